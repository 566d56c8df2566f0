"""OTLP export of scored spans to any Collector, Jaeger or Tempo.

``build_span_exporter`` picks the stock OTLP exporter for the protocol; every argument left out
falls back to the standard ``OTEL_EXPORTER_OTLP_*`` variables, which the exporters read
themselves. ``ScoringOTLPSpanExporter`` is the same choice behind the
``opentelemetry_traces_exporter`` entry point, so ``OTEL_TRACES_EXPORTER=otel_scoring`` works
under ``opentelemetry-instrument`` and takes no arguments.
"""

from __future__ import annotations

import os
from typing import Dict, Mapping, Optional, Sequence, Union

from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.util.re import parse_env_headers

from otel_scoring._guard import handle_internal_errors

__all__ = [
    "GRPC",
    "HTTP_PROTOBUF",
    "PROTOCOLS",
    "Headers",
    "ScoringOTLPSpanExporter",
    "build_span_exporter",
    "resolve_protocol",
]

GRPC = "grpc"
HTTP_PROTOBUF = "http/protobuf"
PROTOCOLS = (GRPC, HTTP_PROTOBUF)

Headers = Union[Mapping[str, str], str, None]


def resolve_protocol(protocol: Optional[str] = None) -> str:
    """Keyword, then ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL``, then ``OTEL_EXPORTER_OTLP_PROTOCOL``, then grpc."""
    chosen = protocol or os.environ.get(OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) or os.environ.get(OTEL_EXPORTER_OTLP_PROTOCOL) or GRPC
    chosen = chosen.strip().lower()
    if chosen not in PROTOCOLS:
        raise ValueError(f"unsupported OTLP protocol {chosen!r}; expected one of {', '.join(PROTOCOLS)}")
    return chosen


def _parse_headers(headers: Headers) -> Optional[Dict[str, str]]:
    if headers is None:
        return None
    if isinstance(headers, str):  # "k=v,k2=v2", parsed as the SDK parses OTEL_EXPORTER_OTLP_HEADERS
        return dict(parse_env_headers(headers, liberal=True))
    return dict(headers)


def build_span_exporter(
    *,
    endpoint: Optional[str] = None,
    protocol: Optional[str] = None,
    headers: Headers = None,
    compression: Optional[str] = None,
    timeout: Optional[float] = None,
    insecure: Optional[bool] = None,
) -> SpanExporter:
    """The stock OTLP span exporter for ``protocol``, configured from arguments then env vars."""
    chosen = resolve_protocol(protocol)
    parsed_headers = _parse_headers(headers)
    if chosen == GRPC:
        from grpc import Compression as GrpcCompression
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        grpc_compression = None
        if compression is not None:
            grpc_compression = {"gzip": GrpcCompression.Gzip, "deflate": GrpcCompression.Deflate, "none": GrpcCompression.NoCompression}[compression.lower()]
        if insecure is None and endpoint is not None and endpoint.startswith("http://"):
            insecure = True
        return GrpcExporter(endpoint=endpoint, insecure=insecure, headers=parsed_headers, timeout=timeout, compression=grpc_compression)
    from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    http_compression = None
    if compression is not None:
        http_compression = {"gzip": HttpCompression.Gzip, "deflate": HttpCompression.Deflate, "none": HttpCompression.NoCompression}[compression.lower()]
    if endpoint is not None and not endpoint.rstrip("/").endswith("/v1/traces"):
        endpoint = endpoint.rstrip("/") + "/v1/traces"
    return HttpExporter(endpoint=endpoint, headers=parsed_headers, timeout=timeout, compression=http_compression)


class ScoringOTLPSpanExporter(SpanExporter):
    """OTLP exporter built with no arguments from the standard env vars (gRPC or HTTP).

    Registered as the ``otel_scoring`` traces exporter entry point. Export failures are logged,
    never raised into the application.
    """

    def __init__(self, **kwargs: object) -> None:
        self._exporter = build_span_exporter(**kwargs)  # type: ignore[arg-type]

    @handle_internal_errors("ScoringOTLPSpanExporter.export", default=SpanExportResult.FAILURE)
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._exporter.export(spans)

    @handle_internal_errors("ScoringOTLPSpanExporter.shutdown")
    def shutdown(self) -> None:
        self._exporter.shutdown()

    @handle_internal_errors("ScoringOTLPSpanExporter.force_flush", default=False)
    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._exporter.force_flush(timeout_millis)
