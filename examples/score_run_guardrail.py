"""Score a function run: "guardrail-pass" on each run of a ticket summariser.

The run is a trace; ``score_current_trace`` puts the score on its root span, so the trace view
shows it on the run and dashboards can chart it over time.

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 python examples/score_run_guardrail.py
"""

from opentelemetry import trace

import otel_scoring

provider = otel_scoring.configure(service_name="support-bot")
tracer = trace.get_tracer("support-bot")


def generate_summary(content: str) -> str:
    return content.split(".")[0] + "."


def validate_output(summary: str) -> bool:
    return 10 <= len(summary) <= 80


def summarize_ticket(ticket: dict) -> dict:
    with tracer.start_as_current_span("summarize-ticket"):
        with tracer.start_as_current_span("generate-summary"):
            summary = generate_summary(ticket["content"])
        with tracer.start_as_current_span("check-guardrails"):
            passed = validate_output(summary)
        # Score this run based on whether guardrails passed.
        otel_scoring.score_current_trace(name="guardrail-pass", value=1 if passed else 0)
        return {"summary": summary, "passed": passed}


if __name__ == "__main__":
    print(summarize_ticket({"content": "I cannot log in since the password reset. Please help."}))
    print(summarize_ticket({"content": "Hi."}))
    provider.shutdown()  # flush every span before the process exits
