"""Batch several metadata updates under one memo id.

The three updates of ``update-all-statuses`` are recorded together, each under its own kind, and
only once per run: running the block again (a re-execution) records nothing new.

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 python examples/metadata_batch.py
"""

from opentelemetry import trace

import otel_scoring
from otel_scoring import metadata

provider = otel_scoring.configure(service_name="workflow")
tracer = trace.get_tracer("workflow")


def start_workflow() -> None:
    with tracer.start_as_current_span("start-workflow"):
        for _execution in range(2):
            with metadata("update-all-statuses").batch() as builder:
                builder.update({"phase": "started", "initiator": "system"}, "workflow")
                builder.update({"estimatedDuration": 30}, "timing")
                builder.update({"region": "us-east-1"}, "infra")


if __name__ == "__main__":
    start_workflow()
    provider.shutdown()
