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
from opentelemetry._logs import set_logger_provider
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.util.re import parse_env_headers

from otel_scoring._log_events import EVENTS_SPANS, check_events
from otel_scoring._settings import resolve_str
from otel_scoring.configs import ScoreConfigRegistry
from otel_scoring.delivery import OTLPTraceSender, ScoreFirstSpanProcessor, SpanSpool
from otel_scoring.environment_variables import OTEL_SCORING_EVENTS, OTEL_SCORING_SPOOL_DIR
from otel_scoring.export import Headers, resolve_protocol
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
    events: Optional[str] = None,
    log_exporter: Optional[LogRecordExporter] = None,
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
        events: ``"spans"`` (span events, the default), ``"logs"`` or ``"both"`` (else
            ``OTEL_SCORING_EVENTS``): with logs, scores and metadata updates are also (or only)
            recorded as log-based events (OTEP 4430) through a ``LoggerProvider`` built here,
            exporting with the stock OTLP log exporter to the same endpoint (``/v1/logs``), made
            the global one with ``set_global``.
        log_exporter: export log-based events here instead of OTLP (e.g. an in-memory exporter).

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
        chosen_events = check_events(resolve_str(events, OTEL_SCORING_EVENTS, EVENTS_SPANS) or EVENTS_SPANS)
        logger_provider = None if chosen_events == EVENTS_SPANS else _logger_provider(provider_resource, endpoint, protocol, headers, compression, log_exporter)
        scoring = ScoringSpanProcessor(
            tracer_provider=provider,
            score_configs=score_configs,
            strict=strict,
            redact_keys=redact_keys,
            redact=redact,
            events=chosen_events,
            logger_provider=logger_provider,
        )
    except BaseException:
        delivery.shutdown()  # its worker thread is already running
        raise
    provider.add_span_processor(scoring)
    provider.add_span_processor(delivery)
    _delivery_processors[provider] = delivery
    if set_global:
        trace.set_tracer_provider(provider)
        if logger_provider is not None:
            set_logger_provider(logger_provider)
    return provider


def _logger_provider(
    resource: Resource,
    endpoint: Optional[str],
    protocol: Optional[str],
    headers: Headers,
    compression: Optional[str],
    log_exporter: Optional[LogRecordExporter],
) -> LoggerProvider:
    """A LoggerProvider for log-based events: ``log_exporter``, else the stock OTLP log exporter."""
    logger_provider = LoggerProvider(resource=resource)
    if log_exporter is not None:
        logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
        return logger_provider
    chosen = resolve_protocol(protocol)
    header_map = dict(parse_env_headers(headers, liberal=True)) if isinstance(headers, str) else (dict(headers) if headers is not None else None)
    exporter: LogRecordExporter
    if chosen == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.exporter import Compression as GrpcCompression

        exporter = GrpcLogExporter(endpoint=endpoint, headers=header_map, compression=GrpcCompression(compression) if compression else None)
    else:
        from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter

        url = None if endpoint is None else (endpoint if endpoint.rstrip("/").endswith("/v1/logs") else endpoint.rstrip("/") + "/v1/logs")
        exporter = HttpLogExporter(endpoint=url, headers=header_map, compression=HttpCompression(compression) if compression else None)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    return logger_provider


def delivery_processor(provider: Optional[TracerProvider] = None) -> Optional[ScoreFirstSpanProcessor]:
    """The :class:`ScoreFirstSpanProcessor` that ``configure()`` added to ``provider``.

    ``provider`` defaults to the global tracer provider. Its ``stats`` say what was exported,
    spooled, resent and dropped. None for a provider ``configure()`` did not build.
    """
    chosen = provider if provider is not None else trace.get_tracer_provider()
    return _delivery_processors.get(chosen)  # type: ignore[arg-type]
