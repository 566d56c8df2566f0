"""Logfire's ``record_feedback``: a score, a label and an assertion on one span (run with the pydantic-evals venv's python)."""

import logfire
from logfire.experimental.annotations import get_traceparent, record_feedback
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from _export import TeeSpanExporter, arguments, hex_ids, report

endpoint, out = arguments()
logfire.configure(send_to_logfire=False, console=False, service_name="logfire-app", additional_span_processors=[SimpleSpanProcessor(TeeSpanExporter(endpoint, out))])
with logfire.span("answer question") as span:
    traceparent = get_traceparent(span)
ids = hex_ids(span._span)
record_feedback(traceparent, "factuality", 0.1, comment="the capital is wrong")
record_feedback(traceparent, "tone", "friendly")
record_feedback(traceparent, "safe", True, extra={"reviewer": "ana"})
logfire.shutdown()
report(ids)
