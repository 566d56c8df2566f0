"""Run metadata: key-value context attached to a run (trace) or a step (span).

The shape mirrors Inngest's ``step.metadata()`` builder, in Python::

    from otel_scoring import metadata

    metadata.update({"company": "acme"})                                  # the current run
    metadata("record-payment-info").update({"paymentId": "pi_1"}, kind="billing")
    metadata("run-status").run().update({"priority": "high"})             # explicitly the run
    metadata("step-annotation").step("process-data").update({"records": 1500})
    metadata("span-details").span(span_id).update({"duration_ms": 230})
    metadata("record-score").run(trace_id).update({"quality": 0.9})       # another run
    with metadata("update-all-statuses").batch() as batch:                # one memo id
        batch.update({"phase": "started"}, kind="workflow")
        batch.update({"region": "us-east-1"}, kind="infra")

    metadata("usage").do(lambda builder: builder.update({"tokens": 12}, kind="llm"))  # or async fn
    await metadata("record-payment-info").update({"paymentId": "pi_1"})  # awaitable, as in Inngest

The first argument is the memo id: an update with a memo id is recorded once per target (the run
for a run update, the span for a step or span update), however often the code around it
re-executes; a loop whose steps each update their own span records every iteration. Without one,
every call records. Choosing a target (``run``, ``span``, ``step``) returns a builder that can only
``update``, ``batch`` or ``do``, so a target cannot be chosen twice.
"""

from __future__ import annotations

import inspect
import logging
from types import TracebackType
from typing import Any, Awaitable, Callable, Coroutine, Generator, List, Mapping, Optional, Tuple, Type, TypeVar, Union, overload

from opentelemetry import trace

from otel_scoring import _registry
from otel_scoring._guard import handle_internal_errors
from otel_scoring._model import MetadataScope, MetadataUpdate
from otel_scoring._validation import build_metadata_update, check_name, new_id, parse_span_id, parse_trace_id, subject_for
from otel_scoring.errors import ScoreValidationError

_logger = logging.getLogger("otel_scoring")

DEFAULT_KIND = "default"
IdInput = Union[str, int, None]

# How a builder names its target until the update runs: (scope, trace id, span id, step name).
_Target = Tuple[MetadataScope, IdInput, IdInput, Optional[str]]
_CURRENT_RUN: _Target = (MetadataScope.RUN, None, None, None)

T = TypeVar("T")


class Recorded:
    """What ``update`` returns: nothing to wait for, but awaitable, so Inngest's
    ``await step.metadata(...).update(...)`` works unchanged in async code."""

    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        return
        yield  # a generator that finishes at once

    def __repr__(self) -> str:
        return "<metadata update recorded>"


_RECORDED = Recorded()


class ScopedMetadata:
    """Metadata aimed at one target; only ``update``, ``batch`` and ``do`` remain."""

    __slots__ = ("_memo_id", "_target")

    def __init__(self, memo_id: Optional[str], target: _Target) -> None:
        self._memo_id = memo_id
        self._target = target

    @handle_internal_errors("metadata.update", default=_RECORDED)
    def update(self, values: Mapping[str, Any], kind: str = DEFAULT_KIND) -> Recorded:
        """Attach ``values`` under ``kind`` (default ``"default"``) to the target (awaitable too)."""
        _record(self._memo_id, self._target, [(values, kind)])
        return _RECORDED

    def batch(self) -> "MetadataBatch":
        """Collect several updates, recorded together under this builder's one memo id."""
        return MetadataBatch(self._memo_id, self._target)

    @overload
    def do(self, fn: Callable[["MetadataBatch"], Coroutine[Any, Any, T]]) -> Coroutine[Any, Any, T]: ...

    @overload
    def do(self, fn: Callable[["MetadataBatch"], T]) -> T: ...

    def do(self, fn: Callable[["MetadataBatch"], Any]) -> Any:
        """Inngest's ``.do(builder => ...)``: ``fn`` makes several updates, recorded as one batch.

        ``fn`` may be a plain or an async function; for an async one, await what ``do`` returns.
        Returns what ``fn`` returns. If ``fn`` raises, nothing is recorded and the error is yours.
        """
        batch = MetadataBatch(self._memo_id, self._target)
        result = fn(batch)
        if inspect.isawaitable(result):
            return _finish_after(result, batch)
        batch._commit()
        return result


class MetadataBuilder(ScopedMetadata):
    """Metadata with a memo id and no target yet: the run by default, or choose one."""

    __slots__ = ()

    def __init__(self, memo_id: Optional[str] = None) -> None:
        super().__init__(memo_id, _CURRENT_RUN)

    def run(self, trace_id: IdInput = None) -> ScopedMetadata:
        """The current run, or the run (trace) ``trace_id`` — open, ended, or in another process."""
        return ScopedMetadata(self._memo_id, (MetadataScope.RUN, trace_id, None, None))

    def span(self, span_id: IdInput = None, trace_id: IdInput = None) -> ScopedMetadata:
        """The current span, or span ``span_id`` (of the current trace unless ``trace_id``)."""
        return ScopedMetadata(self._memo_id, (MetadataScope.SPAN, trace_id, span_id, None))

    def step(self, name: Optional[str] = None) -> ScopedMetadata:
        """The newest span called ``name`` in the current trace, open or recently ended; without a
        name, the current step (the active span), as Inngest's ``.step()``."""
        return ScopedMetadata(self._memo_id, (MetadataScope.SPAN, None, None, name))


class Metadata(MetadataBuilder):
    """The ``metadata`` entry point: call it with a memo id, or use it directly without one."""

    __slots__ = ()

    def __call__(self, memo_id: Optional[str] = None) -> MetadataBuilder:
        return MetadataBuilder(memo_id)


metadata = Metadata()


class MetadataBatch:
    """Context manager collecting updates; on a clean exit they are recorded as one batch."""

    def __init__(self, memo_id: Optional[str], target: _Target) -> None:
        self._memo_id = memo_id
        self._target = target
        self._updates: List[Tuple[Any, Any]] = []

    def update(self, values: Mapping[str, Any], kind: str = DEFAULT_KIND) -> Recorded:
        self._updates.append((values, kind))
        return _RECORDED

    def _commit(self) -> None:
        if self._updates:
            with handle_internal_errors("metadata batch"):
                _record(self._memo_id, self._target, self._updates)

    def __enter__(self) -> "MetadataBatch":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        if exc_type is None:
            self._commit()

    async def __aenter__(self) -> "MetadataBatch":
        return self

    async def __aexit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        self.__exit__(exc_type, exc, tb)


async def _finish_after(pending: Awaitable[T], batch: MetadataBatch) -> T:
    result = await pending
    batch._commit()
    return result


def _record(memo_id: Optional[str], target: _Target, updates: List[Tuple[Any, Any]]) -> None:
    subject = subject_for("metadata update", memo_id)
    processor = _registry.for_target(None, None)
    try:
        if memo_id is not None:
            check_name(memo_id, subject, "memo id")
        trace_id, span_id, current = _resolve(target, subject)
        if _in_sampled_out_trace(trace_id):
            # The sampler dropped this trace: a carrier would export a span it meant to drop.
            _logger.debug("%s not recorded: the active span is not sampled", subject)
            return
        processor = _registry.find(subject, trace_id, span_id)
        if processor is None:
            return
        if target[3] is not None:
            span_id = processor._find_step(trace_id, target[3], current=current)
            if span_id is None:
                raise ScoreValidationError(subject, f"no span named {target[3]!r} has ended in the current trace")
        resolved_memo = memo_id if memo_id is not None else new_id()
        built: List[MetadataUpdate] = [
            build_metadata_update(values=values, kind=kind, memo_id=resolved_memo, index=index, scope=target[0], trace_id=trace_id, span_id=span_id)
            for index, (values, kind) in enumerate(updates)
        ]
    except ScoreValidationError as error:
        _registry.reject(processor, error)
        return
    processor._record_metadata(built, current=current)


def _in_sampled_out_trace(trace_id: int) -> bool:
    current_context = trace.get_current_span().get_span_context()
    return current_context.is_valid and current_context.trace_id == trace_id and not current_context.trace_flags.sampled


def _resolve(target: _Target, subject: str) -> Tuple[int, Optional[int], Any]:
    """Trace id, span id and (when it is the target) the open current span."""
    scope, trace_input, span_input, step_name = target
    current = trace.get_current_span()
    current_context = current.get_span_context()
    trace_id = parse_trace_id(trace_input, subject)
    span_id = parse_span_id(span_input, subject)
    if trace_id is None:
        if not current_context.is_valid:
            raise ScoreValidationError(subject, "there is no active span; name the run with .run(trace_id) or the span with .span(span_id, trace_id)")
        trace_id = current_context.trace_id
    if scope is MetadataScope.SPAN and span_id is None and step_name is None:
        if not current_context.is_valid or current_context.trace_id != trace_id:
            raise ScoreValidationError(subject, "there is no active span in that trace; name the span with .span(span_id, trace_id)")
        span_id = current_context.span_id
    is_current = current.is_recording() and current_context.trace_id == trace_id and (span_id is None or span_id == current_context.span_id)
    return trace_id, (span_id if scope is MetadataScope.SPAN else None), (current if is_current and scope is MetadataScope.SPAN else None)
