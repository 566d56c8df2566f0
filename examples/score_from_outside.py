"""Score a run from outside: user feedback that arrives after the run finished.

The application keeps the run id (the trace id) next to its answer. When the user clicks
"helpful", ``create_score`` scores that run, or one step of it, by id. The run's spans are long
gone, so the score travels on a short carrier span inside the same trace, child of the target.

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 python examples/score_from_outside.py
"""

from opentelemetry import trace

import otel_scoring

provider = otel_scoring.configure(service_name="support-bot")
tracer = trace.get_tracer("support-bot")


def summarize_ticket(content: str) -> dict:
    with tracer.start_as_current_span("summarize-ticket") as run:
        with tracer.start_as_current_span("generate-summary") as step:
            summary = content.split(".")[0] + "."
    return {
        "summary": summary,
        "run_id": trace.format_trace_id(run.get_span_context().trace_id),
        "step_id": trace.format_span_id(step.get_span_context().span_id),
    }


def on_feedback(run_id: str, step_id: str, helpful: bool) -> None:
    """Called by the web app, later, when the user rates the answer."""
    otel_scoring.create_score(name="user-feedback", value=1 if helpful else 0, trace_id=run_id)
    # Score a specific step in that run.
    otel_scoring.create_score(name="accuracy", value=0.9, trace_id=run_id, observation_id=step_id)


if __name__ == "__main__":
    result = summarize_ticket("The export button does nothing. It worked yesterday.")
    print(result)
    on_feedback(result["run_id"], result["step_id"], helpful=True)
    provider.shutdown()
