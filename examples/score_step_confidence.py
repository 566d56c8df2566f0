"""Score a specific step: the model's own confidence, on the "call-model" step.

``score_current_span`` inside the step attaches the score to that step, not to the whole run.

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 python examples/score_step_confidence.py
"""

from opentelemetry import trace

import otel_scoring

provider = otel_scoring.configure(service_name="support-bot")
tracer = trace.get_tracer("support-bot")


def call_model(prompt: str) -> dict:
    return {"text": f"Answer to: {prompt}", "metadata": {"confidence": 0.83}}


def answer(prompt: str) -> str:
    with tracer.start_as_current_span("answer-question"):
        with tracer.start_as_current_span("call-model"):
            result = call_model(prompt)
            # Score this specific step.
            otel_scoring.score_current_span(name="model-confidence", value=result["metadata"]["confidence"])
        return result["text"]


if __name__ == "__main__":
    print(answer("How do I reset my password?"))
    provider.shutdown()
