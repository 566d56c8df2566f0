"""The span processor that writes scores and metadata onto spans.

Add it to an existing ``TracerProvider``::

    provider.add_span_processor(ScoringSpanProcessor(tracer_provider=provider))

It remembers, within fixed bounds, the spans that are still open (so a score for an open span or
trace lands on it) and a little about recently ended ones (so a late score is carried by a short
child span of the right parent). For a span with no score it does one dict insert on start and one
pop on end.
"""

from __future__ import annotations

import collections
import contextvars
import logging
import threading
import weakref
from typing import Deque, List, Optional, Sequence, Tuple, Union

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from otel_scoring import _wire, schema
from otel_scoring._bounded import BoundedMap
from otel_scoring._guard import guarded
from otel_scoring._settings import resolve_bool, resolve_int, resolve_str
from otel_scoring.configs import ScoreConfigRegistry
from otel_scoring.environment_variables import (
    OTEL_SCORING_MAX_TRACKED_SPANS,
    OTEL_SCORING_SCORE_CONFIGS,
    OTEL_SCORING_STRICT,
)
from otel_scoring.errors import ScoreValidationError
from otel_scoring.model import MetadataUpdate, Score, Scope
from otel_scoring.redaction import RedactHook, RedactKeys, Redactor

_logger = logging.getLogger("otel_scoring")

DEFAULT_MAX_TRACKED_SPANS = 10_000

# Set while this processor starts a carrier span, so on_start does not track its own carriers.
_starting_carrier: contextvars.ContextVar[bool] = contextvars.ContextVar("otel_scoring_starting_carrier", default=False)

Writable = Union[Score, Sequence[MetadataUpdate]]


class ScoringSpanProcessor(SpanProcessor):
    """Records scores and metadata as span events and searchable span attributes.

    Args:
        tracer_provider: the provider this processor is added to; carrier spans for late scores
            are started from it. Defaults to the global provider.
        score_configs: a :class:`ScoreConfigRegistry` or the path of a JSON/YAML file of configs
            (``OTEL_SCORING_SCORE_CONFIGS``). Scores naming a ``config_id`` are checked against it.
        strict: raise :class:`ScoreValidationError` on invalid input instead of warning
            (``OTEL_SCORING_STRICT``, default false).
        max_tracked_spans: how many open spans, open local roots and recently ended spans it
            remembers, each (``OTEL_SCORING_MAX_TRACKED_SPANS``, default 10 000).
        redact_keys: metadata keys whose values are recorded as ``"[REDACTED]"``: glob strings
            (``"*password*"``, ``"card_*"``; whole key, any case) or compiled regexes
            (``OTEL_SCORING_REDACT_KEYS``, comma-separated globs). See :mod:`otel_scoring.redaction`.
        redact: a ``(key, value) -> value`` hook applied to every other metadata key; a failing
            hook masks that value and warns.
    """

    def __init__(
        self,
        *,
        tracer_provider: Optional[trace.TracerProvider] = None,
        score_configs: Union[ScoreConfigRegistry, str, None] = None,
        strict: Optional[bool] = None,
        max_tracked_spans: Optional[int] = None,
        redact_keys: Optional[RedactKeys] = None,
        redact: Optional[RedactHook] = None,
    ) -> None:
        self._tracer_provider = tracer_provider
        self._tracer: Optional[trace.Tracer] = None
        configs = score_configs if score_configs is not None else resolve_str(None, OTEL_SCORING_SCORE_CONFIGS)
        self.score_configs = ScoreConfigRegistry.from_file(configs) if isinstance(configs, str) else (configs if configs is not None else ScoreConfigRegistry())
        self.strict = resolve_bool(strict, OTEL_SCORING_STRICT, False)
        # None unless configured: recording then costs one comparison, and spans nothing at all.
        self._redactor = Redactor.from_settings(redact_keys, redact)
        limit = resolve_int(max_tracked_spans, OTEL_SCORING_MAX_TRACKED_SPANS, DEFAULT_MAX_TRACKED_SPANS)
        self._open_spans: BoundedMap[int, Span] = BoundedMap(limit)  # span id -> open span
        self._open_roots: BoundedMap[int, Span] = BoundedMap(limit)  # trace id -> open local root
        self._ended_roots: BoundedMap[int, int] = BoundedMap(limit)  # trace id -> root span id
        # (trace id, name, span id) of recently ended spans, newest last. A deque, not a map: every
        # span end appends here, and a deque appends without a lock or eviction work, while the
        # lookup it serves (metadata(...).step(name) after that step ended) is rare.
        self._ended_steps: Deque[Tuple[int, str, int]] = collections.deque(maxlen=limit)
        self._memos: BoundedMap[Tuple[Optional[int], str], bool] = BoundedMap(limit)  # metadata memo ids seen
        self._is_shutdown = False
        _registry.add(self)

    # --- SpanProcessor hooks --------------------------------------------------------------------

    @guarded("ScoringSpanProcessor.on_start")
    def on_start(self, span: Span, parent_context: Optional[context_api.Context] = None) -> None:
        if _starting_carrier.get():
            return
        span_context = span.context
        self._open_spans.put(span_context.span_id, span)
        parent = span.parent
        if parent is None or parent.is_remote:
            self._open_roots.put(span_context.trace_id, span)

    @guarded("ScoringSpanProcessor.on_end")
    def on_end(self, span: ReadableSpan) -> None:
        span_context = span.context
        ended = self._open_spans.pop(span_context.span_id)
        if ended is None:
            return  # a carrier, or a span evicted while open: nothing of ours to update
        trace_id = span_context.trace_id
        self._ended_steps.append((trace_id, span.name, span_context.span_id))
        parent = span.parent
        if parent is None or parent.is_remote:
            # Only if it is still the trace's open root: another local root of the same
            # distributed trace (a second request under one remote parent) may have replaced it.
            self._open_roots.remove_if(trace_id, ended)
            self._ended_roots.put(trace_id, span_context.span_id)

    def shutdown(self) -> None:
        if self._is_shutdown:
            return
        self._is_shutdown = True
        _registry.discard(self)
        for bounded in (self._open_spans, self._open_roots, self._ended_roots, self._ended_steps, self._memos):
            bounded.clear()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # nothing is buffered here; exporters flush their own queues

    # --- Lookups used by the public API -----------------------------------------------------------

    def tracks_span(self, span_id: int) -> bool:
        return span_id in self._open_spans

    def tracks_trace(self, trace_id: int) -> bool:
        return trace_id in self._open_roots or trace_id in self._ended_roots

    def find_step(self, trace_id: int, name: str) -> Optional[int]:
        """The span id of the newest span called ``name`` in the trace, open or recently ended."""
        for span in reversed(self._open_spans.values()):
            if span.context.trace_id == trace_id and span.name == name:
                return span.context.span_id
        for ended_trace_id, ended_name, span_id in reversed(tuple(self._ended_steps)):  # a copy: on_end may append meanwhile
            if ended_trace_id == trace_id and ended_name == name:
                return span_id
        return None

    # --- Recording ----------------------------------------------------------------------------------

    def reject(self, error: ScoreValidationError) -> None:
        """Invalid input: one warning naming the problem, or the error itself in strict mode."""
        if self.strict:
            raise error
        _logger.warning("%s", error)

    def record_score(self, score: Score, current: Optional[Span] = None) -> None:
        """Write ``score`` on its target if that is open here, else on a carrier span."""
        if self._redactor is not None and score.metadata_json is not None:
            score = self._redactor.score(score)
        target = self._open_target(score.scope, score.trace_id, score.span_id, current)
        if target is not None and self._write(target, score):
            return
        self._carry(score.scope, score.trace_id, score.span_id, score)

    def record_metadata(self, updates: Sequence[MetadataUpdate], current: Optional[Span] = None) -> None:
        """Write a batch of updates sharing one memo id, once per trace however often it runs."""
        if not updates:
            return
        first = updates[0]
        memo_key = (first.trace_id, first.memo_id)
        if memo_key in self._memos:
            _logger.debug("metadata update %r already recorded in this trace; skipped", first.memo_id)
            return
        self._memos.put(memo_key, True)
        if self._redactor is not None:
            updates = self._redactor.updates(updates)
        scope = Scope.TRACE if first.scope.value == "run" else Scope.SPAN
        target = self._open_target(scope, first.trace_id, first.span_id, current)
        if target is not None and self._write(target, updates):
            return
        self._carry(scope, first.trace_id, first.span_id, updates)

    def _open_target(self, scope: Scope, trace_id: Optional[int], span_id: Optional[int], current: Optional[Span]) -> Optional[Span]:
        if scope is Scope.SPAN and span_id is not None:
            if current is not None and current.context.span_id == span_id:
                return current
            span = self._open_spans.get(span_id)
            return span if span is not None and span.context.trace_id == trace_id else None
        if scope is Scope.TRACE and trace_id is not None:
            return self._open_roots.get(trace_id)
        return None

    def _write(self, span: Span, item: Writable) -> bool:
        """Add the event(s) and attributes to an open span. False when it has no room for them."""
        if getattr(span, "end_time", None) is not None:
            # Ended, but its on_end has not reached us yet (an earlier processor is scoring it
            # from its own on_end): the SDK would drop the event, so a carrier takes it.
            return False
        events: List[Tuple[str, dict]]
        if isinstance(item, Score):
            events = [(schema.EVALUATION_RESULT_EVENT, _wire.score_event_attributes(item))]
            summary = _wire.score_span_attributes(item)
        else:
            events = [(schema.METADATA_UPDATE_EVENT, _wire.metadata_event_attributes(u)) for u in item]
            summary = {}
            for update in item:
                summary.update(_wire.metadata_span_attributes(update))
        limits = getattr(span, "_limits", None)  # SDK SpanLimits; absent on other Span types
        if limits is not None:
            max_events = limits.max_events
            # len() of the SDK's own event list: span.events copies it into a tuple on every call.
            if max_events is not None and len(getattr(span, "_events", None) or span.events) + len(events) > max_events:
                # Adding would push older events out of the span: carry it instead, losing nothing.
                _logger.warning("Span %r has reached its event limit (%d); %s is carried on a carrier span instead.", span.name, max_events, _describe(item))
                return False
            max_attributes = limits.max_span_attributes
            if max_attributes is not None:
                present = span.attributes
                # Count the keys that are new only when the span is near its limit.
                if len(present) + len(summary) > max_attributes and len(present) + sum(1 for key in summary if key not in present) > max_attributes:
                    _logger.warning(
                        "Span %r has reached its attribute limit (%d); %s is recorded as an event without its searchable attributes.",
                        span.name,
                        max_attributes,
                        _describe(item),
                    )
                    summary = {}
            length_limit = limits.max_attribute_length
            if length_limit is not None and any(isinstance(v, str) and len(v) > length_limit for _, attrs in events for v in attrs.values()):
                _logger.warning("An attribute of %s is longer than the attribute length limit (%d) and will be truncated.", _describe(item), length_limit)
        for name, attributes in events:
            span.add_event(name, attributes)
        if summary:
            span.set_attributes(summary)
        return True

    def _carry(self, scope: Scope, trace_id: Optional[int], span_id: Optional[int], item: Writable) -> None:
        """Start and end a short span that carries ``item`` for a target that is not open here.

        Its parent is the target (for a trace, the root if this process saw it end) and it links to
        the target once, so backends draw it in place and the translator can tell what was scored.
        """
        parent_span_id = span_id if scope is Scope.SPAN else self._root_span_id(trace_id)
        links: List[Link] = []
        parent_context = context_api.Context()  # never the caller's context: the target decides
        if trace_id is not None:
            if parent_span_id is not None:
                target = SpanContext(trace_id, parent_span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
                links.append(Link(target))
            else:
                # The trace's root is unknown here: parent the carrier on a placeholder span id so
                # it still joins the trace (backends show it as a span with a missing parent).
                target = SpanContext(trace_id, _placeholder_span_id(trace_id), is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
            parent_context = trace.set_span_in_context(NonRecordingSpan(target), parent_context)
        token = _starting_carrier.set(True)
        try:
            carrier = self._carrier_tracer().start_span(
                schema.CARRIER_SPAN_NAME,
                context=parent_context,
                kind=SpanKind.INTERNAL,
                links=links,
                attributes={schema.CARRIER: True},
            )
        finally:
            _starting_carrier.reset(token)
        if not carrier.is_recording():
            _logger.warning(
                "No recording tracer provider to carry a late score or metadata update; pass tracer_provider= to ScoringSpanProcessor "
                "or call otel_scoring.configure(). Nothing was recorded."
            )
            return
        try:
            self._write(carrier, item)
        finally:
            carrier.end()

    def _root_span_id(self, trace_id: Optional[int]) -> Optional[int]:
        """The local root of the trace, open (but full or ending) or recently ended, if seen here."""
        if trace_id is None:
            return None
        root = self._open_roots.get(trace_id)
        return root.context.span_id if root is not None else self._ended_roots.get(trace_id)

    def _carrier_tracer(self) -> trace.Tracer:
        if self._tracer is None:
            provider = self._tracer_provider or trace.get_tracer_provider()
            self._tracer = provider.get_tracer(schema.INSTRUMENTATION_SCOPE)
        return self._tracer


def _describe(item: Writable) -> str:
    # Only for warnings: formatting it on every write would cost more than the check it explains.
    return f"score {item.name!r}" if isinstance(item, Score) else f"metadata update {item[0].memo_id!r}"


def _placeholder_span_id(trace_id: int) -> int:
    # Deterministic per trace, so every late score of one unknown trace shares one parent.
    return (trace_id & 0xFFFFFFFFFFFFFFFF) or 1


class _ProcessorRegistry:
    """The live processors, newest last, so the module-level API can find the one to record with."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._processors: List[weakref.ReferenceType] = []

    def add(self, processor: ScoringSpanProcessor) -> None:
        with self._lock:
            self._processors.append(weakref.ref(processor))

    def discard(self, processor: ScoringSpanProcessor) -> None:
        with self._lock:
            self._processors = [ref for ref in self._processors if ref() not in (None, processor)]

    def live(self) -> List[ScoringSpanProcessor]:
        found = [ref() for ref in self._processors]
        return [p for p in found if p is not None]

    def for_target(self, trace_id: Optional[int], span_id: Optional[int]) -> Optional[ScoringSpanProcessor]:
        """The processor that tracks the span or trace, else the newest one."""
        processors = self.live()
        for processor in reversed(processors):
            if span_id is not None and processor.tracks_span(span_id):
                return processor
        for processor in reversed(processors):
            if trace_id is not None and processor.tracks_trace(trace_id):
                return processor
        return processors[-1] if processors else None


_registry = _ProcessorRegistry()
