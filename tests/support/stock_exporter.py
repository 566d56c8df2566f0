"""A good client in a process of its own: a stock OTLP span exporter sending scored spans.

``python tests/support/stock_exporter.py {grpc|http} PORT COUNT [PER_REQUEST [NAMES]]`` records COUNT
spans, each with a score named ``good-<i % NAMES>`` (NAMES defaults to COUNT: one name each) of
value ``(i % 97) / 96``, through a real ``TracerProvider``
with ``ScoringSpanProcessor``, then exports them PER_REQUEST spans per request (default 1) with the
SDK's own ``OTLPSpanExporter`` (its own retries on 429, 503 and ``RESOURCE_EXHAUSTED``, its default
timeout) to 127.0.0.1:PORT, and prints one JSON line: ``{"results": ["SUCCESS", ...]}``, one result
per export.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_scoring
from otel_scoring import ScoringSpanProcessor


def command(protocol: str, port: int, count: int, per_request: int = 1, names: int = 0) -> List[str]:
    """The command line that runs this script with these arguments, under the test's Python."""
    return [sys.executable, str(Path(__file__).resolve()), protocol, str(port), str(count), str(per_request), str(names)]


def main(protocol: str, port: int, count: int, per_request: int = 1, names: int = 0) -> None:
    names = names or count
    recorded = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "good-exporter"}))
    provider.add_span_processor(ScoringSpanProcessor(tracer_provider=provider))
    provider.add_span_processor(SimpleSpanProcessor(recorded))
    tracer = provider.get_tracer("good-exporter")
    for index in range(count):
        with tracer.start_as_current_span(f"good-span-{index}"):
            otel_scoring.score_current_span(name=f"good-{index % names}", value=(index % 97) / 96)
    spans = recorded.get_finished_spans()
    provider.shutdown()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        exporter = GrpcExporter(endpoint=f"127.0.0.1:{port}", insecure=True)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        exporter = HttpExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces")
    results = [exporter.export(spans[start : start + per_request]).name for start in range(0, len(spans), per_request)]
    exporter.shutdown()
    print(json.dumps({"results": results}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *(int(argument) for argument in sys.argv[4:6]))
