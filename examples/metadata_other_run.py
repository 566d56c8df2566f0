"""Update metadata on a different run: an evaluator annotating a finished AI run, and an approval.

``metadata(...).run(run_id)`` targets any run by its id (trace id), from another run or from
code with no span at all, such as an API route.

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 python examples/metadata_other_run.py
"""

import time

from opentelemetry import trace

import otel_scoring
from otel_scoring import metadata

provider = otel_scoring.configure(service_name="ai-app")
tracer = trace.get_tracer("ai-app")


def ai_run(question: str) -> dict:
    with tracer.start_as_current_span("ai-run") as run:
        output = f"An answer to {question!r}"
    return {"run_id": trace.format_trace_id(run.get_span_context().trace_id), "output": output}


def evaluate_run(event: dict) -> None:
    with tracer.start_as_current_span("evaluate-run"):
        with tracer.start_as_current_span("score-output"):
            score = {"quality": 0.91, "relevance": 0.84}
        metadata("record-score").run(event["run_id"]).update(
            {"qualityScore": score["quality"], "relevanceScore": score["relevance"], "evaluatedAt": int(time.time() * 1000)}
        )


def approve(run_id: str) -> None:
    """An API route: no function, no span, just the run id."""
    metadata.run(run_id).update({"approvedBy": "admin@example.com", "approvalTimestamp": int(time.time() * 1000)})


if __name__ == "__main__":
    completed = ai_run("What is OpenTelemetry?")
    evaluate_run(completed)
    approve(completed["run_id"])
    provider.shutdown()
