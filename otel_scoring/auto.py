"""Zero-code activation: ``OTEL_SCORING_ENABLED=true opentelemetry-instrument python app.py``.

``opentelemetry-instrument`` runs, in order: the distro, the SDK configurator (which builds the
global ``TracerProvider`` from the standard ``OTEL_*`` variables), the instrumentors, and then
every ``opentelemetry_post_instrument`` entry point. :func:`add_scoring_processor` is registered
there: the provider exists by then, so it adds a :class:`ScoringSpanProcessor` to it and swaps
its batch processors for score-first ones (below), leaving exporters' settings, sampler,
resource and limits as configured.

A post-instrument hook rather than a distro or a configurator on purpose: only one distro and one
configurator load per process, so ours would displace the one the user (or a vendor) installed.
With ``OTEL_SCORING_ENABLED`` unset it does nothing at all.

Delivery gets the guarantees ``configure()`` gives: each ``BatchSpanProcessor`` the configurator
added is replaced, in place, by a :class:`~otel_scoring.delivery.ScoreFirstSpanProcessor`. For an
OTLP exporter, one that sends through an :class:`~otel_scoring.delivery.OTLPTraceSender` built from
the same ``OTEL_EXPORTER_OTLP_*`` variables, with the ``OTEL_SCORING_SPOOL_DIR`` spool when set
(the stock exporter is shut down unused); for any other exporter (console, a vendor's), one that
wraps that very exporter (no spool: it resends raw OTLP requests). The SDK has no public way to
remove a span processor, so the swap replaces the provider's processor tuple under its lock; if the
provider is not laid out as expected it warns and leaves the configured pipeline as it is.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, List, Optional

from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from otel_scoring._guard import handle_internal_errors
from otel_scoring._settings import resolve_bool, resolve_str
from otel_scoring.environment_variables import OTEL_SCORING_ENABLED, OTEL_SCORING_SPOOL_DIR
from otel_scoring.processor import ScoringSpanProcessor

if TYPE_CHECKING:
    from otel_scoring.delivery import ScoreFirstSpanProcessor

__all__ = ["add_scoring_processor", "enable_scoring", "use_score_first_delivery"]

_logger = logging.getLogger(__name__)


def add_scoring_processor() -> None:
    """Add a ScoringSpanProcessor to the global SDK tracer provider when ``OTEL_SCORING_ENABLED`` is true.

    Never raises: a provider it cannot extend or a setting it cannot use gives one warning and the
    app runs as it would without otel-scoring.
    """
    with handle_internal_errors("zero-code activation (OTEL_SCORING_ENABLED)"):
        if not resolve_bool(None, OTEL_SCORING_ENABLED, False):
            return
        provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):
            _logger.warning(
                "%s is true but the global tracer provider is a %s, not the OpenTelemetry SDK's TracerProvider, so no scores "
                "will be recorded. Install the SDK configurator (pip install opentelemetry-distro) or call "
                "otel_scoring.configure() in code.",
                OTEL_SCORING_ENABLED,
                type(provider).__name__,
            )
            return
        try:
            enable_scoring(provider)
        except Exception as error:  # noqa: BLE001 - a bad setting (e.g. the score configs file) must not stop the app
            _logger.warning("otel-scoring is not enabled, scores will not be recorded: %s: %s", type(error).__name__, error)
            return
        _logger.debug("ScoringSpanProcessor added to the global tracer provider")


def enable_scoring(provider: TracerProvider) -> None:
    """Add scoring to an SDK provider built elsewhere, and score-first delivery in place of its
    batch processors; raises on a setting it cannot use."""
    scoring = ScoringSpanProcessor(tracer_provider=provider)
    try:
        use_score_first_delivery(provider)
    except BaseException:
        scoring.shutdown()  # registers nothing when it fails (see configure())
        raise
    provider.add_span_processor(scoring)


def use_score_first_delivery(provider: TracerProvider) -> int:
    """Replace each ``BatchSpanProcessor`` of ``provider`` by a ``ScoreFirstSpanProcessor``; how many."""
    from otel_scoring.configuration import _delivery_processors
    from otel_scoring.delivery import ScoreFirstSpanProcessor

    multi = getattr(provider, "_active_span_processor", None)
    lock = getattr(multi, "_lock", None)
    current = getattr(multi, "_span_processors", None)
    if lock is None or not isinstance(current, tuple):
        _logger.warning(
            "otel-scoring could not replace the tracer provider's BatchSpanProcessor (an SDK version it does not know); scores are "
            "exported through it, without score-first delivery or %s.",
            OTEL_SCORING_SPOOL_DIR,
        )
        return 0
    spool_dir = resolve_str(None, OTEL_SCORING_SPOOL_DIR)
    replaced: List[SpanProcessor] = []
    retired: List[BatchSpanProcessor] = []
    for processor in current:
        if type(processor) is not BatchSpanProcessor:  # a subclass or another processor: the user's
            replaced.append(processor)
            continue
        exporter: SpanExporter = processor.span_exporter
        delivery = _score_first_for(exporter, spool_dir)
        replaced.append(delivery)
        _delivery_processors[provider] = delivery
        if delivery.span_exporter is None:
            retired.append(processor)  # its exporter is not used: shut it down below
    with lock:
        multi._span_processors = tuple(replaced)  # type: ignore[union-attr]
    for processor in retired:
        processor.shutdown()
    if spool_dir and not retired:
        _logger.warning(
            "%s is set but no OTLP exporter is configured (OTEL_TRACES_EXPORTER); the spool resends OTLP requests, so it is not used.",
            OTEL_SCORING_SPOOL_DIR,
        )
    return sum(1 for p in replaced if isinstance(p, ScoreFirstSpanProcessor))


def _score_first_for(exporter: SpanExporter, spool_dir: Optional[str]) -> "ScoreFirstSpanProcessor":
    from otel_scoring.delivery import OTLPTraceSender, ScoreFirstSpanProcessor, SpanSpool

    if _is_otlp(exporter):
        sender = OTLPTraceSender()  # the same OTEL_EXPORTER_OTLP_* variables the stock exporter read
        return ScoreFirstSpanProcessor(sender=sender, spool=SpanSpool(spool_dir) if spool_dir else None)
    return ScoreFirstSpanProcessor(exporter)


def _is_otlp(exporter: SpanExporter) -> bool:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return type(exporter) in (GrpcExporter, HttpExporter)
