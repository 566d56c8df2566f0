"""Langfuse-style custom scores: numeric, categorical and boolean, validated by score configs.

A score that names a ``config_id`` must follow that config: its name, data type and range or
categories. A categorical score with a config also gets the number its category maps to. A score
id you choose is an idempotency key: writing it again updates the score.

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 python examples/langfuse_scores.py
"""

from opentelemetry import trace

import otel_scoring
from otel_scoring import DataType, ScoreConfig, ScoreConfigRegistry

configs = ScoreConfigRegistry(
    [
        ScoreConfig(id="78545", name="accuracy", data_type=DataType.NUMERIC, min_value=0, max_value=1),
        ScoreConfig(id="tone-v1", name="tone", data_type=DataType.CATEGORICAL, categories={"rude": 0, "neutral": 1, "friendly": 2}),
        ScoreConfig(id="helpful-v1", name="helpful", data_type=DataType.BOOLEAN),
    ]
)
provider = otel_scoring.configure(service_name="chat-app", score_configs=configs)
tracer = trace.get_tracer("chat-app")


def chat(question: str) -> str:
    with tracer.start_as_current_span("my-operation") as span:
        span.set_attribute("app.answer", f"Here is what I found about {question}.")
        otel_scoring.score_current_span(name="accuracy", value=0.9, comment="Factually correct", config_id="78545", data_type="NUMERIC")
        otel_scoring.score_current_span(name="tone", value="friendly", config_id="tone-v1")
        otel_scoring.score_current_trace(name="overall_quality", value=0.95, data_type="NUMERIC")
        otel_scoring.score_current_span(name="accuracy", value=1.7, config_id="78545")  # out of range: warned, not recorded
        return trace.format_trace_id(span.get_span_context().trace_id)


if __name__ == "__main__":
    trace_id = chat("score configs")
    feedback_id = f"{trace_id}-helpful"  # the idempotency key <trace_id>-<score_name>
    otel_scoring.create_score(name="helpful", value=False, trace_id=trace_id, score_id=feedback_id, config_id="helpful-v1")
    otel_scoring.create_score(name="helpful", value=True, trace_id=trace_id, score_id=feedback_id, config_id="helpful-v1")  # the user changed their mind
    provider.shutdown()
