"""``configure()``: a TracerProvider with scoring and OTLP export in one call.

Every argument falls back to its environment variable (the standard ``OTEL_*`` ones for the
service name, endpoint, protocol, headers and compression), then to the default.

Export goes through :class:`~otel_scoring.delivery.ScoreFirstSpanProcessor`: plain spans are
given up before score-carrying ones, and with a spool directory the scores a collector does not
take wait on disk until it does (see ``docs/reliability.md``).
"""

from __future__ import annotations

import os
import weakref
from typing import Optional, Union

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter

from otel_scoring._settings import resolve_str
from otel_scoring.configs import ScoreConfigRegistry
from otel_scoring.delivery import OTLPTraceSender, ScoreFirstSpanProcessor, SpanSpool
from otel_scoring.environment_variables import OTEL_SCORING_SPOOL_DIR
from otel_scoring.export import Headers
from otel_scoring.processor import ScoringSpanProcessor
from otel_scoring.redaction import RedactHook, RedactKeys

__all__ = ["configure", "delivery_processor"]

# The delivery processor configure() added to each provider, so delivery_processor() can find it.
_delivery_processors: "weakref.WeakKeyDictionary[TracerProvider, ScoreFirstSpanProcessor]" = weakref.WeakKeyDictionary()


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
    spool_dir: Union[str, "os.PathLike[str]", None] = None,
    spool_max_bytes: Optional[int] = None,
    redact_keys: Optional[RedactKeys] = None,
    redact: Optional[RedactHook] = None,
) -> TracerProvider:
    """Build a TracerProvider that records scores and exports them over OTLP.

    Args:
        service_name: ``service.name`` of the resource (else ``OTEL_SERVICE_NAME``).
        endpoint, protocol, headers, compression: OTLP exporter settings ("grpc" or
            "http/protobuf"); each falls back to its ``OTEL_EXPORTER_OTLP_*`` variable.
        span_exporter: export here instead of OTLP (for example an ``InMemorySpanExporter``);
            a failed export is retried from memory.
        score_configs, strict, redact_keys, redact: passed to :class:`ScoringSpanProcessor`.
        resource: a resource to merge under the service name.
        set_global: make it the global tracer provider (default).
        spool_dir: a directory where score-carrying spans the collector did not take are kept
            and resent from, also after a restart (else ``OTEL_SCORING_SPOOL_DIR``; unset: no
            spool, undelivered scores are retried from memory until shutdown).
        spool_max_bytes: the most the spool may hold (else ``OTEL_SCORING_SPOOL_MAX_BYTES``,
            default 64 MiB).

    Queue and batch sizes follow the standard ``OTEL_BSP_*`` variables. Programmer errors (an
    unknown protocol, ``spool_dir`` with ``span_exporter``) raise ``ValueError`` here, at setup.
    """
    attributes = {SERVICE_NAME: service_name} if service_name else {}
    provider_resource = Resource.create(attributes)
    if resource is not None:
        provider_resource = resource.merge(provider_resource)
    provider = TracerProvider(resource=provider_resource)
    # Every part is built before the scoring processor registers itself: a configure() that raises
    # must leave no processor behind to take the scores of the provider that works.
    if span_exporter is not None:
        if spool_dir is not None:
            raise ValueError("spool_dir= resends raw OTLP requests and cannot be used with span_exporter=")
        delivery = ScoreFirstSpanProcessor(span_exporter)
    else:
        sender = OTLPTraceSender(endpoint=endpoint, protocol=protocol, headers=headers, compression=compression)
        directory = os.fspath(spool_dir) if spool_dir is not None else resolve_str(None, OTEL_SCORING_SPOOL_DIR)
        spool = SpanSpool(directory, max_bytes=spool_max_bytes) if directory else None
        delivery = ScoreFirstSpanProcessor(sender=sender, spool=spool)
    try:
        scoring = ScoringSpanProcessor(tracer_provider=provider, score_configs=score_configs, strict=strict, redact_keys=redact_keys, redact=redact)
    except BaseException:
        delivery.shutdown()  # its worker thread is already running
        raise
    provider.add_span_processor(scoring)
    provider.add_span_processor(delivery)
    _delivery_processors[provider] = delivery
    if set_global:
        trace.set_tracer_provider(provider)
    return provider


def delivery_processor(provider: Optional[TracerProvider] = None) -> Optional[ScoreFirstSpanProcessor]:
    """The :class:`ScoreFirstSpanProcessor` that ``configure()`` added to ``provider``.

    ``provider`` defaults to the global tracer provider. Its ``stats`` say what was exported,
    spooled, resent and dropped. None for a provider ``configure()`` did not build.
    """
    chosen = provider if provider is not None else trace.get_tracer_provider()
    return _delivery_processors.get(chosen)  # type: ignore[arg-type]
