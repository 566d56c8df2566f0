"""Which processor records a score, and what an invalid score becomes.

The scoring functions have no processor in hand: they ask :func:`for_target` for the live
:class:`~otel_scoring.ScoringSpanProcessor` tracking the target, and hand invalid input to
:func:`reject`, which warns or (in strict mode) raises. Strict mode is resolved here alone, for a
processor at construction (:func:`resolve_strict`) and for a call that found none.

Processors are seen through the :class:`Recorder` protocol, so this module does not import the
processor class: data flows from the API through here to the processor, never back.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import TYPE_CHECKING, List, Optional, Protocol, Sequence, Tuple

from otel_scoring._settings import resolve_bool
from otel_scoring.environment_variables import OTEL_SCORING_STRICT
from otel_scoring.errors import ScoreValidationError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import Span
    from opentelemetry.trace import TracerProvider

    from otel_scoring._model import MetadataUpdate, Score
    from otel_scoring.configs import ScoreConfigRegistry

_logger = logging.getLogger("otel_scoring")


def no_processor_message() -> str:
    """Why a call found no processor, with the fix for how this app is set up."""
    import sys

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from otel_scoring.environment_variables import OTEL_SCORING_ENABLED

    if "opentelemetry.instrumentation.auto_instrumentation" in sys.modules:  # under opentelemetry-instrument
        fix = f"set {OTEL_SCORING_ENABLED}=true in the environment opentelemetry-instrument runs in; configure() is for apps that set up OpenTelemetry in code"
    elif isinstance(trace.get_tracer_provider(), TracerProvider):
        fix = "add one to the TracerProvider you set up: provider.add_span_processor(ScoringSpanProcessor(tracer_provider=provider)), before its export processor"
    else:
        fix = "call otel_scoring.configure() once at startup (or add a ScoringSpanProcessor to the TracerProvider you build)"
    return f"no ScoringSpanProcessor is registered; {fix}"


class Recorder(Protocol):
    """What the scoring functions need of a processor (``ScoringSpanProcessor`` implements it)."""

    _strict: bool
    _score_configs: ScoreConfigRegistry

    def _tracks_trace(self, trace_id: int) -> bool: ...

    def _provider(self) -> TracerProvider: ...

    def _find_step(self, trace_id: int, name: str, current: Optional[Span] = None) -> Optional[int]: ...

    def _record_score(self, score: Score, current: Optional[Span] = None) -> None: ...

    def _record_metadata(self, updates: Sequence[MetadataUpdate], current: Optional[Span] = None) -> None: ...


def resolve_strict(strict: Optional[bool]) -> bool:
    """The strict setting: the keyword when given, else ``OTEL_SCORING_STRICT`` (default false)."""
    return resolve_bool(strict, OTEL_SCORING_STRICT, False)


def reject(processor: Optional[Recorder], error: ScoreValidationError) -> None:
    """Invalid input: one warning naming the problem, or the error itself in strict mode.

    Strict is the processor's setting, or the environment's when no processor was found.
    """
    if processor._strict if processor is not None else resolve_strict(None):
        raise error
    _logger.warning("%s", error)


class _Registry:
    """The live processors, newest last.

    Every score asks it, so reads take no lock: they see an immutable tuple replaced on each
    change, and the usual single processor is answered without looking at trace ids.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._processors: Tuple["weakref.ReferenceType[Recorder]", ...] = ()

    def add(self, processor: Recorder) -> None:
        with self._lock:
            self._processors = tuple(ref for ref in self._processors if ref() is not None) + (weakref.ref(processor),)

    def discard(self, processor: Recorder) -> None:
        with self._lock:
            self._processors = tuple(ref for ref in self._processors if ref() not in (None, processor))

    def live(self) -> List[Recorder]:
        found = [ref() for ref in self._processors]
        return [p for p in found if p is not None]

    def for_target(self, trace_id: Optional[int], span_id: Optional[int]) -> Optional[Recorder]:
        """The processor that tracks the trace, else the newest one; None when there is none."""
        references = self._processors
        if len(references) == 1:
            return references[0]()
        processors = self.live()
        for processor in reversed(processors):
            if trace_id is not None and processor._tracks_trace(trace_id):
                return processor
        return processors[-1] if processors else None


_processors = _Registry()

add = _processors.add
discard = _processors.discard
live = _processors.live
for_target = _processors.for_target


def find(subject: str, trace_id: Optional[int], span_id: Optional[int]) -> Optional[Recorder]:
    """:func:`for_target`, rejecting the call (warning, or raising in strict mode) when there is none."""
    processor = for_target(trace_id, span_id)
    if processor is None:
        reject(None, ScoreValidationError(subject, no_processor_message()))
    return processor
