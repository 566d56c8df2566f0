"""``configure()``: a TracerProvider with scoring and OTLP export in one call.

Every argument falls back to its environment variable (the standard ``OTEL_*`` ones for the
service name, endpoint, protocol, headers and compression), then to the default.
"""

from __future__ import annotations

from typing import Optional, Union

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from otel_scoring.configs import ScoreConfigRegistry
from otel_scoring.export import Headers, build_span_exporter
from otel_scoring.processor import ScoringSpanProcessor


def configure(
    *,
    service_name: Optional[str] = None,
    endpoint: Optional[str] = None,
    protocol: Optional[str] = None,
    headers: Headers = None,
    compression: Optional[str] = None,
    span_exporter: Optional[SpanExporter] = None,
    score_configs: Union[ScoreConfigRegistry, str, None] = None,
    strict: Optional[bool] = None,
    resource: Optional[Resource] = None,
    set_global: bool = True,
) -> TracerProvider:
    """Build a TracerProvider that records scores and exports them over OTLP.

    Args:
        service_name: ``service.name`` of the resource (else ``OTEL_SERVICE_NAME``).
        endpoint, protocol, headers, compression: OTLP exporter settings ("grpc" or
            "http/protobuf"); each falls back to its ``OTEL_EXPORTER_OTLP_*`` variable.
        span_exporter: export here instead of OTLP (for example an ``InMemorySpanExporter``).
        score_configs, strict: passed to :class:`ScoringSpanProcessor`.
        resource: a resource to merge under the service name.
        set_global: make it the global tracer provider (default).

    Programmer errors (an unknown protocol) raise ``ValueError`` here, at setup.
    """
    attributes = {SERVICE_NAME: service_name} if service_name else {}
    provider_resource = Resource.create(attributes)
    if resource is not None:
        provider_resource = resource.merge(provider_resource)
    provider = TracerProvider(resource=provider_resource)
    provider.add_span_processor(ScoringSpanProcessor(tracer_provider=provider, score_configs=score_configs, strict=strict))
    exporter = span_exporter or build_span_exporter(endpoint=endpoint, protocol=protocol, headers=headers, compression=compression)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    if set_global:
        trace.set_tracer_provider(provider)
    return provider
