"""Every read of the OpenTelemetry SDK's private span internals, in one place.

Two checks need what the SDK keeps private: a span's ``SpanLimits`` (so a score is carried rather
than pushing older events out of a full span) and its event list, whose length says whether a span
has events at all without ``span.events`` copying it into a tuple under a lock (about half of what
a batch processor spends per span). Everything public is used as is (``is_recording()`` says
whether a span has ended). The readers run for every span, so they stay inline ``getattr`` calls
with the names below; should the SDK rename the attributes, those checks would quietly switch off
and bring back the very loss they exist to prevent, so :func:`check_sdk_shape` (run when a
processor is built) warns once, and tests/test_sdk_span.py fails on such an SDK.
"""

from __future__ import annotations

import logging
from typing import List

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Span, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

_logger = logging.getLogger("otel_scoring")

LIMITS = "_limits"  # Span: the SpanLimits it was started with
EVENTS = "_events"  # ReadableSpan: the event list (a BoundedList) that span.events copies

_checked = False


def missing_sdk_attributes() -> List[str]:
    """What this opentelemetry-sdk's spans lack of the internals read here (empty when all is well)."""
    # No processor, no resource detection, always sampled: the probe span goes nowhere.
    provider = TracerProvider(sampler=ALWAYS_ON, resource=Resource.get_empty(), shutdown_on_exit=False)
    span = provider.get_tracer("otel_scoring.probe").start_span("probe")
    if not isinstance(span, Span):
        return []  # OTEL_SDK_DISABLED: no SDK spans, nothing to check
    missing = []
    if not isinstance(getattr(span, LIMITS, None), SpanLimits):
        missing.append(LIMITS)
    events = getattr(span, EVENTS, None)
    if events is None or len(events) != len(span.events):
        missing.append(EVENTS)
    return missing


def check_sdk_shape() -> None:
    """Warn once per process if the SDK's spans no longer have the internals read here."""
    global _checked
    if _checked:
        return
    _checked = True
    missing = missing_sdk_attributes()
    if missing:
        _logger.warning(
            "This opentelemetry-sdk keeps no %s on its spans: otel-scoring cannot check span limits or event lists cheaply, so a full "
            "span may drop older events. Please report it with your opentelemetry-sdk version.",
            " or ".join(missing),
        )
