"""Every read of the OpenTelemetry SDK's private span internals, in one place.

Two checks need what the SDK keeps private: a span's ``SpanLimits`` (so a score is carried rather
than pushing older events out of a full span) and its event list, whose length says whether a span
has events at all without ``span.events`` copying it into a tuple under a lock (about half of what
a batch processor spends per span). Everything public is used as is (``is_recording()`` says
whether a span has ended). The readers run for every span, so they stay inline ``getattr`` calls
with the names below; should the SDK rename the attributes, those checks would quietly switch off
and bring back the very loss they exist to prevent, so :func:`check_sdk_shape` (run when a
processor is built) warns once, and tests/test_sdk_span.py fails on such an SDK.

Two writes go past the public API: :func:`add_clean_event` and :func:`set_clean_attributes`.
``span.add_event`` (and ``span.set_attributes`` alike) re-checks every
attribute value through the SDK's generic cleaner (``isinstance`` against ``Sequence`` and
``Mapping`` ABCs, recursively) — a third of what a score cost — for values otel-scoring has
already validated as ``str``/``float``/``bool``, where the cleaner returns each one unchanged. It
builds the very objects ``add_event`` builds (an immutable ``BoundedAttributes`` in an ``Event``,
appended under the span's lock by ``_add_event``), filling the attributes as the SDK's own
``BoundedAttributes.__deepcopy__`` does, and only for a plain SDK span whose limits the values
fit; anything else takes ``add_event``. :func:`set_clean_attributes` writes the summary attributes
into the span's attributes under the span's and the attributes' locks, as ``set_attributes`` does
(a key written again moves to the end), when they fit its limits; anything else takes
``set_attributes``.
"""

from __future__ import annotations

import logging
from typing import Dict, FrozenSet, List, Optional, Union

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, Span, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

_logger = logging.getLogger("otel_scoring")

LIMITS = "_limits"  # Span: the SpanLimits it was started with
EVENTS = "_events"  # ReadableSpan: the event list (a BoundedList) that span.events copies
ATTRIBUTES = "_attributes"  # ReadableSpan: the attributes (a BoundedAttributes) span.attributes wraps in a proxy
ADD_EVENT = "_add_event"  # Span: appends a built Event under the span's lock, if it has not ended
ATTRIBUTES_DICT = "_dict"  # BoundedAttributes: the plain dict holding the cleaned values
LOCK = "_lock"  # Span and BoundedAttributes: the lock each takes around its writes
END_TIME = "_end_time"  # Span: None until it has ended
IMMUTABLE = "_immutable"  # BoundedAttributes: True for an event's attributes, False for a live span's

# The span classes add_clean_event may write to directly: the SDK's own (its tracer makes private
# ``_Span`` subclass instances), set by check_sdk_shape once it found the internals; none until then.
# Any other subclass may override add_event, so it gets add_event.
_plain_span_types: FrozenSet[type] = frozenset()

_checked = False


def _probe_span() -> object:
    """A span as the SDK's tracer makes them. No processor, no resource detection, always
    sampled: it goes nowhere."""
    provider = TracerProvider(sampler=ALWAYS_ON, resource=Resource.get_empty(), shutdown_on_exit=False)
    return provider.get_tracer("otel_scoring.probe").start_span("probe")


def missing_sdk_attributes() -> List[str]:
    """What this opentelemetry-sdk's spans lack of the internals read here (empty when all is well)."""
    span = _probe_span()
    if not isinstance(span, Span):
        return []  # OTEL_SDK_DISABLED: no SDK spans, nothing to check
    missing = []
    if not isinstance(getattr(span, LIMITS, None), SpanLimits):
        missing.append(LIMITS)
    events = getattr(span, EVENTS, None)
    if events is None or len(events) != len(span.events):
        missing.append(EVENTS)
    if not callable(getattr(span, ADD_EVENT, None)):
        missing.append(ADD_EVENT)
    attributes = getattr(span, ATTRIBUTES, None)
    if not isinstance(getattr(attributes, ATTRIBUTES_DICT, None), dict):
        missing.append(ATTRIBUTES_DICT)
    for owner, name in ((span, LOCK), (attributes, LOCK)):
        if not hasattr(getattr(owner, name, None), "__enter__") and name not in missing:
            missing.append(name)
    if getattr(span, END_TIME, 0) is not None:
        missing.append(END_TIME)
    if getattr(attributes, IMMUTABLE, None) is not False:
        missing.append(IMMUTABLE)
    return missing


def check_sdk_shape() -> None:
    """Warn once per process if the SDK's spans no longer have the internals read here."""
    global _checked, _plain_span_types
    if _checked:
        return
    _checked = True
    missing = missing_sdk_attributes()
    probe = _probe_span() if not {ADD_EVENT, ATTRIBUTES_DICT, LIMITS, LOCK, END_TIME, IMMUTABLE} & set(missing) else None
    _plain_span_types = frozenset({Span, type(probe)}) if isinstance(probe, Span) else frozenset()
    if missing:
        _logger.warning(
            "This opentelemetry-sdk keeps no %s on its spans: otel-scoring cannot check span limits or event lists cheaply, so a full "
            "span may drop older events, and scores cost more (each is written through add_event). Please report it with your "
            "opentelemetry-sdk version.",
            " or ".join(missing),
        )


def add_clean_event(span: Span, name: str, attributes: Dict[str, Union[str, bool, int, float]], timestamp: Optional[int] = None) -> None:
    """``span.add_event(name, attributes, timestamp)`` for values that are all ``str``, ``bool``,
    ``int`` or ``float``: the same event, without re-cleaning each value.

    ``attributes`` becomes the event's own: the caller must not change it afterwards.
    """
    limits = getattr(span, LIMITS, None) if type(span) in _plain_span_types else None
    if limits is not None:
        max_attributes, max_length = limits.max_event_attributes, limits.max_attribute_length
        # Where the SDK would drop or truncate something, it does so itself (and says so).
        if (max_attributes is None or len(attributes) <= max_attributes) and (max_length is None or not any(type(v) is str and len(v) > max_length for v in attributes.values())):
            bounded = BoundedAttributes(max_attributes, None, True, max_length)
            setattr(bounded, ATTRIBUTES_DICT, attributes)
            getattr(span, ADD_EVENT)(Event(name, bounded, timestamp))
            return
    span.add_event(name, attributes, timestamp)


def set_clean_attributes(span: Span, attributes: Dict[str, Union[str, bool, int, float]]) -> None:
    """``span.set_attributes(attributes)`` for values that are all ``str``, ``bool``, ``int`` or
    ``float`` under keys that are non-empty strings: the same writes, without re-cleaning each value."""
    if type(span) in _plain_span_types:
        bounded = getattr(span, ATTRIBUTES)
        max_attributes, max_length = bounded.maxlen, bounded.max_value_len
        # Where the SDK would truncate a value or drop an older key, it does so itself (and says so).
        if max_length is None or not any(type(v) is str and len(v) > max_length for v in attributes.values()):
            with getattr(span, LOCK):
                values = getattr(bounded, ATTRIBUTES_DICT)
                fits = max_attributes is None or len(values) + len(attributes) <= max_attributes
                if fits and getattr(span, END_TIME) is None and not getattr(bounded, IMMUTABLE):
                    with getattr(bounded, LOCK):
                        for key, value in attributes.items():
                            values.pop(key, None)  # as the SDK's _setitem_locked: a key written again moves to the end
                            values[key] = value
                    return
    span.set_attributes(attributes)  # outside the span's lock, which set_attributes takes itself
