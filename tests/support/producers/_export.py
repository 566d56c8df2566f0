"""Exporters every producer driver uses: OTLP/HTTP to the live receiver, and the same batches to files.

Runs inside a producer's own venv (its own OpenTelemetry), never in otel-scoring's. Files hold
what the receiver got: ``spans.bin`` / ``logs.bin`` (one serialized request per export, as
length-prefixed records are not OTLP, each export goes to its own numbered file) and
``spans.jsonl`` / ``logs.jsonl`` (protobuf's JSON mapping, one request per line, as the
Collector's file exporter writes them).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Dict, Sequence

from google.protobuf.json_format import MessageToJson
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class _Files:
    def __init__(self, out: Path, stem: str) -> None:
        self._out = out
        self._stem = stem
        self._count = 0

    def write(self, request: Any) -> None:
        self._count += 1
        (self._out / f"{self._stem}-{self._count}.bin").write_bytes(request.SerializeToString())
        with open(self._out / f"{self._stem}.jsonl", "a", encoding="utf-8") as lines:
            lines.write(MessageToJson(request, indent=None) + "\n")


class TeeSpanExporter(SpanExporter):
    """OTLP/HTTP to ``endpoint`` and every batch to files in ``out``."""

    def __init__(self, endpoint: str, out: Path) -> None:
        self._otlp = OTLPSpanExporter(endpoint=endpoint + "/v1/traces", timeout=10)
        self._files = _Files(out, "spans")

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        self._files.write(encode_spans(spans))
        return self._otlp.export(spans)

    def shutdown(self) -> None:
        self._otlp.shutdown()


class TeeLogExporter(LogRecordExporter):
    def __init__(self, endpoint: str, out: Path) -> None:
        self._otlp = OTLPLogExporter(endpoint=endpoint + "/v1/logs", timeout=10)
        self._files = _Files(out, "logs")

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        self._files.write(encode_logs(batch))
        return self._otlp.export(batch)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # every export is sent before export() returns

    def shutdown(self) -> None:
        self._otlp.shutdown()


def arguments() -> tuple:
    """``python driver.py ENDPOINT OUT_DIR``."""
    endpoint, out = sys.argv[1], Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    return endpoint, out


def report(facts: Dict[str, Any]) -> None:
    """What the test needs to check the records (ids of the scored spans), as one JSON line."""
    print(json.dumps(facts), flush=True)


def hex_ids(span: Any) -> Dict[str, str]:
    context = span.get_span_context()
    return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}
