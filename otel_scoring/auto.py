"""Zero-code activation: ``OTEL_SCORING_ENABLED=true opentelemetry-instrument python app.py``.

``opentelemetry-instrument`` runs, in order: the distro, the SDK configurator (which builds the
global ``TracerProvider`` from the standard ``OTEL_*`` variables), the instrumentors, and then
every ``opentelemetry_post_instrument`` entry point. :func:`add_scoring_processor` is registered
there: the provider exists by then, so it only adds a :class:`ScoringSpanProcessor` to it and
leaves exporters, sampler, resource and limits exactly as configured.

A post-instrument hook rather than a distro or a configurator on purpose: only one distro and one
configurator load per process, so ours would displace the one the user (or a vendor) installed.
With ``OTEL_SCORING_ENABLED`` unset it does nothing at all.
"""

from __future__ import annotations

import logging

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from otel_scoring._guard import handle_internal_errors
from otel_scoring._settings import resolve_bool
from otel_scoring.environment_variables import OTEL_SCORING_ENABLED
from otel_scoring.processor import ScoringSpanProcessor

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
    """Add scoring to an SDK provider built elsewhere; raises on a setting it cannot use."""
    provider.add_span_processor(ScoringSpanProcessor(tracer_provider=provider))
