"""The SDK scoring reference's examples: create_score, score_current_span, score_current_trace.

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 python examples/sdk_reference.py
"""

from opentelemetry import trace

import otel_scoring

provider = otel_scoring.configure(service_name="assistant")
tracer = trace.get_tracer("assistant")


def generate_answer(query: str) -> str:
    return f"The answer to {query!r} is 42."


if __name__ == "__main__":
    with tracer.start_as_current_span("process-user-request") as span:
        with tracer.start_as_current_span("answer-query") as generation:
            response = generate_answer("life, the universe and everything")
            generation.set_attribute("output", response)
            # Score the generation.
            otel_scoring.score_current_span(
                name="relevance", value=0.85, data_type="NUMERIC", comment="Mostly relevant but contains some tangential information"
            )
        # Score the overall trace.
        otel_scoring.score_current_trace(name="overall_quality", value=0.95, data_type="NUMERIC", comment="High quality end-to-end response")

    trace_id = trace.format_trace_id(span.get_span_context().trace_id)
    observation_id = trace.format_span_id(generation.get_span_context().span_id)

    # Create a numeric score for accuracy.
    otel_scoring.create_score(
        name="accuracy", value=0.92, trace_id=trace_id, data_type="NUMERIC", comment="High accuracy with minor irrelevant details"
    )
    # Create a categorical score for sentiment.
    otel_scoring.create_score(name="sentiment", value="positive", trace_id=trace_id, observation_id=observation_id, data_type="CATEGORICAL")
    provider.shutdown()
