"""The scoring functions: ``create_score``, ``score_current_span``, ``score_current_trace``.

Names and keyword arguments follow the SDK scoring reference. Each call resolves its target,
validates, and hands a :class:`Score` to the processor that tracks the target. Nothing here
raises into the caller except :class:`ScoreValidationError` in strict mode.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Dict, Literal, Optional, Union

from opentelemetry import trace

from otel_scoring import _registry
from otel_scoring._guard import handle_internal_errors, report_internal_error
from otel_scoring._model import Scope
from otel_scoring._validation import build_score, build_span_score, parse_span_id, parse_trace_id, subject_for
from otel_scoring.errors import ScoreValidationError

_logger = logging.getLogger("otel_scoring")

DataTypeName = Literal["NUMERIC", "CATEGORICAL", "BOOLEAN"]
ScoreValue = Union[float, int, bool, str]


def _subject(name: Any) -> str:
    return subject_for("score", name)


@handle_internal_errors("create_score")
def create_score(
    *,
    name: str,
    value: ScoreValue,
    session_id: Optional[str] = None,
    dataset_run_id: Optional[str] = None,
    trace_id: Union[str, int, None] = None,
    observation_id: Union[str, int, None] = None,
    score_id: Optional[str] = None,
    data_type: Optional[DataTypeName] = None,
    comment: Optional[str] = None,
    config_id: Optional[str] = None,
    metadata: Any = None,
    timestamp: Optional[datetime] = None,
    environment: Optional[str] = None,
) -> None:
    """Score any trace, span (``observation_id``), session or dataset run by id.

    Ids are hex strings (32 digits for a trace, 16 for a span) or ints. A span or trace still
    open in this process gets the score directly; anything else — ended, elsewhere, known only
    by id — gets it on a carrier span in the same trace. ``environment`` (Langfuse's) is recorded
    as ``deployment.environment.name`` on the score.
    """
    subject = _subject(name)
    processor = _registry.for_target(None, None)
    try:
        parsed_trace = parse_trace_id(trace_id, subject)
        parsed_span = parse_span_id(observation_id, subject)
        if parsed_span is not None and parsed_trace is None:
            raise ScoreValidationError(subject, "observation_id needs trace_id too")
        if parsed_span is not None:
            scope = Scope.SPAN
        elif parsed_trace is not None:
            scope = Scope.TRACE
        elif session_id is not None:
            scope = Scope.SESSION
        elif dataset_run_id is not None:
            scope = Scope.DATASET_RUN
        else:
            raise ScoreValidationError(subject, "create_score needs a target: trace_id, session_id or dataset_run_id")
        processor = _registry.find(subject, parsed_trace, parsed_span)
        if processor is None:
            return
        score = build_score(
            name=name,
            value=value,
            scope=scope,
            trace_id=parsed_trace,
            span_id=parsed_span,
            session_id=session_id,
            dataset_run_id=dataset_run_id,
            score_id=score_id,
            data_type=data_type,
            comment=comment,
            config_id=config_id,
            metadata=metadata,
            timestamp=timestamp,
            environment=environment,
            configs=processor._score_configs,
        )
    except ScoreValidationError as error:
        _registry.reject(processor, error)
        return
    current = trace.get_current_span()
    processor._record_score(score, current=current if current.is_recording() else None)


def score_span(where: str, span: Any, scope: Scope, name: Any, value: Any, options: Dict[str, Any], step: Optional[str] = None) -> None:
    try:  # inline rather than the decorator: this runs on the caller's hot path
        record_on_span(span, scope, name, value, options, step)
    except ScoreValidationError:
        raise  # strict mode only
    except Exception:
        report_internal_error(where)


def record_on_span(span: Any, scope: Scope, name: Any, value: Any, options: Dict[str, Any], step: Optional[str] = None) -> None:
    """Score ``span`` (or its trace); with ``step``, the span called so in its trace instead.

    ``options`` are the optional keywords of :func:`build_score`. Shared by the module functions
    and the Langfuse client's span wrapper, which scores its own span whether or not it is current.
    """
    # The subject names the score in warnings only, so it is formatted on those paths alone.
    span_context = span.get_span_context()
    processor = _registry.for_target(span_context.trace_id, span_context.span_id)
    try:
        if not span_context.is_valid:
            if processor is None:  # without a provider that scores, every span is invalid: say why
                _registry.find(_subject(name), None, None)  # warns (or raises, strict) with the fix
                return
            raise ScoreValidationError(_subject(name), "there is no active span (call it inside a `with tracer.start_as_current_span(...)` block)")
        if not span_context.trace_flags.sampled:
            # A sampled-out trace is dropped whole; an ended but sampled span still gets a carrier.
            _logger.debug("%s not recorded: the active span is not sampled", _subject(name))
            return
        if processor is None:  # looked up once above; only this rare path looks again (and warns)
            processor = _registry.find(_subject(name), span_context.trace_id, span_context.span_id)
            if processor is None:
                return
        span_id = span_context.span_id
        if step is not None:
            found = processor._find_step(span_context.trace_id, step, current=span if span.is_recording() else None)
            if found is None:
                raise ScoreValidationError(_subject(name), f"no span named {step!r} is open or has recently ended in the current trace")
            if found != span_id:
                span, span_id = None, found  # ended: a carrier under it takes the score
        score = build_score(
            name=name,
            value=value,
            scope=scope,
            trace_id=span_context.trace_id,
            span_id=span_id if scope is Scope.SPAN else None,
            configs=processor._score_configs,
            **options,
        )
    except ScoreValidationError as error:
        _registry.reject(processor, error)
        return
    processor._record_score(score, current=span if span is not None and span.is_recording() else None)


def score_current_span(
    *,
    name: str,
    value: ScoreValue,
    score_id: Optional[str] = None,
    data_type: Optional[DataTypeName] = None,
    comment: Optional[str] = None,
    config_id: Optional[str] = None,
    metadata: Any = None,
    timestamp: Optional[datetime] = None,
    environment: Optional[str] = None,
    step: Optional[str] = None,
) -> None:
    """Score the active span (an "observation"): the score lands on that span.

    With ``step="ChatCompletion"`` it scores the span of that name in the current trace instead:
    the active span if it has that name, else the newest one that ended recently, such as the span
    an instrumentation opened and closed inside the call just made (``client.chat.completions.create``).
    ``environment`` is recorded as ``deployment.environment.name`` on the score.
    """
    span = trace.get_current_span()
    if score_id is None and data_type is None and config_id is None and metadata is None and timestamp is None and environment is None and step is None:
        try:  # the common call: an open span scored with a name, a value, perhaps a comment
            if _score_open_span(span, name, value, comment):
                return
        except ScoreValidationError:
            raise  # strict mode only
        except Exception:
            report_internal_error("score_current_span")
            return
    options = {"score_id": score_id, "data_type": data_type, "comment": comment, "config_id": config_id, "metadata": metadata, "timestamp": timestamp, "environment": environment}
    score_span("score_current_span", span, Scope.SPAN, name, value, options, step)


def _score_open_span(span: Any, name: Any, value: Any, comment: Any) -> bool:
    """What :func:`record_on_span` does for an open, sampled span scored with no other keyword,
    without the options dict and the checks that cannot apply. False, having done nothing, for
    any other span (invalid, unsampled, ended) or when no processor is registered: the general
    path handles those, with its warnings."""
    span_context = span.get_span_context()
    if not (span_context.trace_flags.sampled and span_context.is_valid and span.is_recording()):
        return False
    processor = _registry.for_target(span_context.trace_id, span_context.span_id)
    if processor is None:
        return False
    try:
        score = build_span_score(name, value, comment, span_context.trace_id, span_context.span_id)
    except ScoreValidationError as error:
        _registry.reject(processor, error)
        return True
    processor._record_score(score, current=span)
    return True


def score_current_trace(
    *,
    name: str,
    value: ScoreValue,
    score_id: Optional[str] = None,
    data_type: Optional[DataTypeName] = None,
    comment: Optional[str] = None,
    config_id: Optional[str] = None,
    metadata: Any = None,
    timestamp: Optional[datetime] = None,
    environment: Optional[str] = None,
) -> None:
    """Score the active span's whole trace (the "run"): the score lands on its local root span."""
    options = {"score_id": score_id, "data_type": data_type, "comment": comment, "config_id": config_id, "metadata": metadata, "timestamp": timestamp, "environment": environment}
    score_span("score_current_trace", trace.get_current_span(), Scope.TRACE, name, value, options)
