"""Scope metadata to the run, to a step by name, or to a span by id.

``.run()`` targets the run (the default), ``.step("process-data")`` the newest span of that name
in this run (open or just finished) and ``.span(span_id)`` any span, such as an outgoing call.

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 python examples/metadata_scopes.py
"""

from opentelemetry import trace

import otel_scoring
from otel_scoring import metadata

provider = otel_scoring.configure(service_name="etl")
tracer = trace.get_tracer("etl")


def my_function() -> None:
    with tracer.start_as_current_span("my-function"):
        with tracer.start_as_current_span("process-data"):
            records = list(range(1500))

        # Explicitly scope to the current run (same as default).
        metadata("run-status").run().update({"priority": "high"})

        # Scope to a specific step by its name.
        metadata("step-annotation").step("process-data").update({"recordsProcessed": len(records)})

        # Scope to an extended trace span, by its id.
        with tracer.start_as_current_span("call-warehouse", kind=trace.SpanKind.CLIENT) as call:
            span_id = trace.format_span_id(call.get_span_context().span_id)
        metadata("span-details").span(span_id).update({"externalCallDuration": 230})


if __name__ == "__main__":
    my_function()
    provider.shutdown()
