"""The span processor that writes scores and metadata onto spans.

Add it to an existing ``TracerProvider``::

    provider.add_span_processor(ScoringSpanProcessor(tracer_provider=provider))

It remembers, within fixed bounds, each trace's open local root (so a trace score lands on it) and a
little about recently ended spans (so a late score is carried by a short child span of the right
parent, and ``metadata(...).step(name)`` finds a step that has run). For a span with no score it
checks the parent on start and appends one entry on end.
"""

from __future__ import annotations

import collections
import contextvars
import logging
import weakref
from typing import Deque, List, Optional, Sequence, Tuple, Union

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry._logs import LoggerProvider, get_logger_provider
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from otel_scoring import _registry, _sdk_span, _wire, schema
from otel_scoring._bounded import BoundedMap
from otel_scoring._guard import report_internal_error
from otel_scoring._log_events import EVENTS_LOGS, EVENTS_SPANS, LogEventWriter, check_events
from otel_scoring._model import MetadataUpdate, Score, Scope
from otel_scoring._settings import resolve_bool, resolve_int, resolve_str
from otel_scoring.configs import ScoreConfigRegistry
from otel_scoring.environment_variables import OTEL_SCORING_EVENTS, OTEL_SCORING_KEEP_LATE_SCORES, OTEL_SCORING_MAX_TRACKED_SPANS, OTEL_SCORING_SCORE_CONFIGS
from otel_scoring.redaction import RedactHook, RedactKeys, Redactor

__all__ = ["DEFAULT_MAX_TRACKED_SPANS", "ScoringSpanProcessor"]

_logger = logging.getLogger("otel_scoring")

DEFAULT_MAX_TRACKED_SPANS = 10_000

# Set while this processor starts a carrier span, so on_start does not track its own carriers.
_starting_carrier: contextvars.ContextVar[bool] = contextvars.ContextVar("otel_scoring_starting_carrier", default=False)

# Set while a carrier span ends (other processors' on_end run then), to refuse nested carriers.
_ending_carrier: contextvars.ContextVar[bool] = contextvars.ContextVar("otel_scoring_ending_carrier", default=False)

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
        max_tracked_spans: how many open local roots, ended roots and recently ended spans it
            remembers, each (``OTEL_SCORING_MAX_TRACKED_SPANS``, default 10 000).
        redact_keys: metadata keys whose values are recorded as ``"[REDACTED]"``: glob strings
            (``"*password*"``, ``"card_*"``; whole key, any case) or compiled regexes
            (``OTEL_SCORING_REDACT_KEYS``, comma-separated globs). See :mod:`otel_scoring.redaction`.
        redact: a ``(key, value) -> value`` hook applied to every other metadata key; a failing
            hook masks that value and warns.
        events: ``"spans"`` (span events, the default), ``"logs"`` (log-based events through
            ``logger_provider``, OTEP 4430) or ``"both"`` (``OTEL_SCORING_EVENTS``).
        logger_provider: the ``LoggerProvider`` log-based events go to (default: the global one;
            ``otel_scoring.configure(events=...)`` builds one that exports over OTLP).
        keep_late_scores: carry every late score (one for a span or trace not open here), even
            for a trace the provider's sampler drops (``OTEL_SCORING_KEEP_LATE_SCORES``, default
            false: a late score is carried only when the sampler keeps its trace, judged as for
            a root span of that trace id, so dropped traces do not reappear as lone carriers).
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
        events: Optional[str] = None,
        logger_provider: Optional[LoggerProvider] = None,
        keep_late_scores: Optional[bool] = None,
    ) -> None:
        self._events = check_events(resolve_str(events, OTEL_SCORING_EVENTS, EVENTS_SPANS) or EVENTS_SPANS)
        self._log_events = LogEventWriter(logger_provider or get_logger_provider()) if self._events != EVENTS_SPANS else None
        self._tracer_provider = tracer_provider
        self._keep_late_scores = resolve_bool(keep_late_scores, OTEL_SCORING_KEEP_LATE_SCORES, False)
        self._tracer: Optional[trace.Tracer] = None
        configs = score_configs if score_configs is not None else resolve_str(None, OTEL_SCORING_SCORE_CONFIGS)
        self._score_configs = _load_configs(configs) if isinstance(configs, str) else (configs if configs is not None else ScoreConfigRegistry())
        self._strict = _registry.resolve_strict(strict)
        # None unless configured: recording then costs one comparison, and spans nothing at all.
        self._redactor = Redactor.from_settings(redact_keys, redact)
        limit = resolve_int(max_tracked_spans, OTEL_SCORING_MAX_TRACKED_SPANS, DEFAULT_MAX_TRACKED_SPANS)
        # trace id -> weak reference to the trace's open local root. Weak, so a root that never
        # ends and that nobody else holds is freed rather than kept alive here.
        self._open_roots: BoundedMap[int, "weakref.ReferenceType[Span]"] = BoundedMap(limit)
        self._ended_roots: BoundedMap[int, int] = BoundedMap(limit)  # trace id -> root span id
        # (span context, name) of recently ended spans, newest last, for metadata(...).step(name).
        # A deque: every span end appends without a lock or eviction work; the lookup is rare.
        self._ended_steps: Deque[Tuple[SpanContext, str]] = collections.deque(maxlen=limit)
        # (trace id, span id or None for the run, memo id) -> whether a skipped repeat was logged.
        self._memos: BoundedMap[Tuple[Optional[int], Optional[int], str], bool] = BoundedMap(limit)
        self._is_shutdown = False
        _sdk_span.check_sdk_shape()  # once per process: the limit checks below depend on it
        _registry.add(self)

    # --- SpanProcessor hooks --------------------------------------------------------------------

    # The two hooks run for every span, scored or not, so they do as little as possible: a
    # parent check on start, one deque append on end, each in a plain try block (no decorator
    # call). Only a trace's local root (one span per trace per process) is tracked while open.
    # A score for any other open span either comes from inside it (score_current_span hands the
    # span over) or names it by id, and a score known only by ids goes on a carrier span.

    def on_start(self, span: Span, parent_context: Optional[context_api.Context] = None) -> None:
        try:
            parent = span.parent
            if (parent is None or parent.is_remote) and not _starting_carrier.get():
                self._open_roots.put(span.context.trace_id, weakref.ref(span))
        except Exception:
            report_internal_error("ScoringSpanProcessor.on_start")

    def on_end(self, span: ReadableSpan) -> None:
        try:
            span_context = span.context
            self._ended_steps.append((span_context, span.name))
            parent = span.parent
            if parent is None or parent.is_remote:
                trace_id = span_context.trace_id
                reference = self._open_roots.get(trace_id)
                root = reference() if reference is not None else None
                # Only while it is still the trace's open root: a carrier (never registered), or
                # another local root of the same distributed trace, must not take its place.
                # (on_end gets a ReadableSpan copy, not the Span on_start saw: compare by id.)
                if root is not None and root.context.span_id == span_context.span_id:
                    self._open_roots.remove_if(trace_id, reference)
                    self._ended_roots.put(trace_id, span_context.span_id)
        except Exception:
            report_internal_error("ScoringSpanProcessor.on_end")

    def shutdown(self) -> None:
        if self._is_shutdown:
            return
        self._is_shutdown = True
        _registry.discard(self)
        for tracked in (self._open_roots, self._ended_roots, self._ended_steps, self._memos):
            tracked.clear()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # nothing is buffered here; exporters flush their own queues

    # --- What the scoring functions use, through otel_scoring._registry.Recorder -------------------

    def _provider(self) -> trace.TracerProvider:
        """The provider it starts carrier spans from (the one it was given, else the global one)."""
        return self._tracer_provider or trace.get_tracer_provider()

    def _tracks_trace(self, trace_id: int) -> bool:
        return trace_id in self._open_roots or trace_id in self._ended_roots

    def _find_step(self, trace_id: int, name: str, current: Optional[Span] = None) -> Optional[int]:
        """The span id of the span called ``name`` in the trace: the current span if it is that
        step, else the newest such span that ended recently."""
        if current is not None and current.context.trace_id == trace_id and current.name == name:
            return current.context.span_id
        for span_context, ended_name in reversed(tuple(self._ended_steps)):  # a copy: spans end meanwhile
            if ended_name == name and span_context.trace_id == trace_id:
                return span_context.span_id
        return None

    def _record_score(self, score: Score, current: Optional[Span] = None) -> None:
        """Write ``score`` on its target if that is open here, else on a carrier span."""
        if self._redactor is not None and score.metadata_json is not None:
            score = self._redactor.score(score)
        self._record(score.scope, score.trace_id, score.span_id, score, current)

    def _record_metadata(self, updates: Sequence[MetadataUpdate], current: Optional[Span] = None) -> None:
        """Write a batch of updates sharing one memo id, once per trace however often it runs."""
        if not updates:
            return
        first = updates[0]
        # Per target, as Inngest memoises per run and per step: the same memo id on each span of
        # a loop's steps records each one; the run's own update with that id records once.
        memo_key = (first.trace_id, first.span_id if first.scope.value == "span" else None, first.memo_id)
        logged = self._memos.get(memo_key)
        if logged is not None:
            if not logged:
                self._memos.put(memo_key, True)
                _logger.info("metadata update %r was already recorded on this %s; this and later repeats are skipped (memo ids record once per target)", first.memo_id, "span" if memo_key[1] is not None else "run")
            return
        if self._redactor is not None:
            updates = self._redactor.updates(updates)
        scope = Scope.TRACE if first.scope.value == "run" else Scope.SPAN
        if self._record(scope, first.trace_id, first.span_id, updates, current):
            self._memos.put(memo_key, False)  # only once recorded: a retry after a failure records

    def _record(self, scope: Scope, trace_id: Optional[int], span_id: Optional[int], item: Writable, current: Optional[Span]) -> bool:
        """On the target if it is open here, else on a carrier span. False if nothing was written.

        With log-based events, a log record as well (``"both"``) or instead (``"logs"``), naming the
        span the event went on (None: a carrier), so that both routes read as one record.
        """
        target = self._open_target(scope, trace_id, span_id, current)
        log_events = self._log_events
        if log_events is not None and self._events == EVENTS_LOGS:
            return log_events.write(item, target.name if target is not None else None)
        events, summary = _encode(item)  # once: the carrier, if one is needed, writes the same
        if target is not None and _write(target, item, events, summary):
            written, on_span = True, target.name
        else:
            written, on_span = self._carry(scope, trace_id, span_id, item, events, summary), None
        if log_events is not None:
            log_events.write(item, on_span)
        return written

    def _open_target(self, scope: Scope, trace_id: Optional[int], span_id: Optional[int], current: Optional[Span]) -> Optional[Span]:
        if scope is Scope.SPAN and span_id is not None:
            if current is not None and current.context.span_id == span_id:
                return current
            return None  # known only by id: a carrier span takes it
        if scope is Scope.TRACE and trace_id is not None:
            reference = self._open_roots.get(trace_id)
            return reference() if reference is not None else None
        return None

    def _carry(self, scope: Scope, trace_id: Optional[int], span_id: Optional[int], item: Writable, events: _Events, summary: dict) -> bool:
        """Start and end a short span that carries ``item`` for a target that is not open here.

        Its parent is the target (for a trace, the root if this process saw it end) and it links to
        the target once, so backends draw it in place and the translator can tell what was scored.
        """
        if _ending_carrier.get():
            # A span processor scores every span it sees end, carriers included: carrying that
            # score would end another carrier, and so on forever.
            _logger.warning("%s was made while a carrier span ended (a span processor scoring in on_end?); not carried, to avoid endless carrier spans.", _describe(item))
            return False
        if trace_id is not None and not self._keep_late_scores and not self._sampler_keeps(trace_id):
            _logger.debug("%s not carried: the sampler drops trace %s (keep_late_scores=True keeps it)", _describe(item), schema.format_trace_id(trace_id))
            return False
        parent_span_id = span_id if scope is Scope.SPAN else self._root_span_id(trace_id)
        links: Tuple[Link, ...] = ()
        parent_context = _NO_CONTEXT  # never the caller's context: the target decides
        if trace_id is not None:
            if parent_span_id is not None:
                target = SpanContext(trace_id, parent_span_id, True, _SAMPLED)
                links = (Link(target),)
            else:
                # The trace's root is unknown here: parent the carrier on a placeholder span id so
                # it still joins the trace (backends show it as a span with a missing parent).
                target = SpanContext(trace_id, _placeholder_span_id(trace_id), True, _SAMPLED)
            parent_context = trace.set_span_in_context(NonRecordingSpan(target), _NO_CONTEXT)
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
            return False
        try:
            written = _write(carrier, item, events, summary)
        finally:
            token = _ending_carrier.set(True)
            try:
                carrier.end()
            finally:
                _ending_carrier.reset(token)
        return written

    def _sampler_keeps(self, trace_id: int) -> bool:
        """Whether the trace is sampled, as far as this process can tell: a trace whose root it saw
        was; otherwise the provider's sampler decides as it would for a root span of that trace id
        (the same decision TraceIdRatioBased made for the trace, wherever it started)."""
        if self._tracks_trace(trace_id):
            return True
        sampler = getattr(self._provider(), "sampler", None)
        if sampler is None:
            return True  # not an SDK provider: its own sampling applies when the carrier starts
        result = sampler.should_sample(None, trace_id, schema.CARRIER_SPAN_NAME, SpanKind.INTERNAL, {schema.CARRIER: True}, [])
        return bool(result.decision.is_sampled())

    def _root_span_id(self, trace_id: Optional[int]) -> Optional[int]:
        """The local root of the trace, open (but full or ending) or recently ended, if seen here."""
        if trace_id is None:
            return None
        reference = self._open_roots.get(trace_id)
        root = reference() if reference is not None else None
        return root.context.span_id if root is not None else self._ended_roots.get(trace_id)

    def _carrier_tracer(self) -> trace.Tracer:
        if self._tracer is None:
            self._tracer = self._provider().get_tracer(schema.INSTRUMENTATION_SCOPE)
        return self._tracer


def _load_configs(path: str) -> ScoreConfigRegistry:
    """The configs in ``path``. A missing optional dependency (PyYAML for a YAML file) disables the
    configs alone: scores naming a ``config_id`` are refused, every other score is recorded."""
    try:
        return ScoreConfigRegistry.from_file(path)
    except ImportError as error:
        _logger.warning(
            "Score configs in %s were not loaded: %s (or write the file as JSON, which needs nothing more). Until then scores "
            "naming a config_id are refused; all other scores are recorded.",
            path,
            error,
        )
        return ScoreConfigRegistry()


_Events = List[Tuple[str, dict]]
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)  # a carrier's parent: built once, read on every carrier
_NO_CONTEXT = context_api.Context()  # immutable: set_span_in_context returns a new one
_LIMITS, _EVENTS = _sdk_span.LIMITS, _sdk_span.EVENTS  # bound once: read on every score
_add_clean_event, _set_clean_attributes = _sdk_span.add_clean_event, _sdk_span.set_clean_attributes


def _encode(item: Writable) -> Tuple[_Events, dict]:
    """The event(s) and the searchable span attributes that record ``item``."""
    if isinstance(item, Score):
        return [(schema.EVALUATION_RESULT_EVENT, _wire.score_event_attributes(item))], _wire.score_span_attributes(item)
    summary: dict = {}
    for update in item:
        summary.update(_wire.metadata_span_attributes(update))
    return [(schema.METADATA_UPDATE_EVENT, _wire.metadata_event_attributes(u)) for u in item], summary


def _write(span: Span, item: Writable, events: _Events, summary: dict) -> bool:
    """Add encoded events and attributes to an open span, within its limits. False when it has no
    room for them (ended, or at its event limit), for a carrier to take them whole."""
    if not span.is_recording():
        # Ended, but its on_end has not reached us yet (an earlier processor is scoring it
        # from its own on_end): the SDK would drop the event, so a carrier takes it.
        return False
    limits = getattr(span, _LIMITS, None)  # SDK SpanLimits; absent on other Span types
    if limits is not None:
        max_events = limits.max_events
        # len() of the SDK's own event list: span.events copies it into a tuple on every call. An
        # empty list is falsy, so test for None: `or span.events` would copy on every first score.
        if max_events is not None and _event_count(span) + len(events) > max_events:
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
        _add_clean_event(span, name, attributes)  # values from _wire: str, bool, int or float only
    if summary:
        _set_clean_attributes(span, summary)  # keys from schema, values from _wire
    return True


def _event_count(span: Span) -> int:
    recorded = getattr(span, _EVENTS, None)
    return len(recorded) if recorded is not None else len(span.events)


def _describe(item: Writable) -> str:
    # Only for warnings: formatting it on every write would cost more than the check it explains.
    return f"score {item.name!r}" if isinstance(item, Score) else f"metadata update {item[0].memo_id!r}"


def _placeholder_span_id(trace_id: int) -> int:
    # Deterministic per trace, so every late score of one unknown trace shares one parent.
    return (trace_id & 0xFFFFFFFFFFFFFFFF) or 1
