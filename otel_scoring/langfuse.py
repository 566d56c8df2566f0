"""Langfuse's scoring surface over otel-scoring: a Langfuse user changes one import line.

::

    from otel_scoring.langfuse import get_client  # was: from langfuse import get_client

    langfuse = get_client()
    with langfuse.start_as_current_span(name="my-operation") as span:
        span.score(name="correctness", value=0.9, data_type="NUMERIC", comment="Factually correct")
        span.score_trace(name="overall_quality", value=0.95)
        langfuse.score_current_span(name="relevance", value=0.85)
    langfuse.create_score(name="user-feedback", value=1, trace_id=span.trace_id)
    langfuse.flush()

Every keyword the Langfuse 5 Python SDK accepts on these methods is accepted here. The ones with a
meaning in OpenTelemetry are recorded (``environment`` as ``deployment.environment.name`` on the
score; ``input``/``output``/``metadata``/``level``/``model``/``version`` of an observation under
Langfuse's own ``langfuse.observation.*`` span attributes); the rest (``prompt``, cost and usage
details, ...) are accepted and ignored. Ids are Langfuse's: 32 and 16 lowercase hex digits, the
OpenTelemetry trace and span ids. Nothing here raises into the caller (strict mode aside).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import weakref
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Dict, Iterator, Mapping, Optional

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from otel_scoring import _registry, schema
from otel_scoring._api import create_score as _create_score
from otel_scoring._api import score_current_span as _score_current_span
from otel_scoring._api import score_current_trace as _score_current_trace
from otel_scoring._api import score_span
from otel_scoring._guard import handle_internal_errors
from otel_scoring._model import Scope

__all__ = ["Langfuse", "LangfuseSpan", "get_client"]

_logger = logging.getLogger("otel_scoring")

TRACER_NAME = "otel_scoring.langfuse"

# Observation fields recorded as span attributes, by the keyword that carries them.
_OBSERVATION_ATTRIBUTES = {
    "input": schema.LANGFUSE_OBSERVATION_INPUT,
    "output": schema.LANGFUSE_OBSERVATION_OUTPUT,
    "metadata": schema.LANGFUSE_OBSERVATION_METADATA,
    "level": schema.LANGFUSE_OBSERVATION_LEVEL,
    "status_message": schema.LANGFUSE_OBSERVATION_STATUS_MESSAGE,
    "model": schema.LANGFUSE_OBSERVATION_MODEL,
    "version": schema.LANGFUSE_VERSION,
}


def _score_options(score_id: Any, data_type: Any, comment: Any, config_id: Any, metadata: Any, timestamp: Any, environment: Any) -> Dict[str, Any]:
    return {"score_id": score_id, "data_type": data_type, "comment": comment, "config_id": config_id, "metadata": metadata, "timestamp": timestamp, "environment": environment}


def _attribute_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False)


class LangfuseSpan:
    """An observation: an OpenTelemetry span with Langfuse's ``score``/``score_trace``/``update``.

    ``trace_id`` and ``id`` are the span's ids as hex strings, to pass to ``create_score`` later.
    Scoring works while the span is open (the score lands on it) and after it ended (a carrier
    span under it takes the score).
    """

    def __init__(self, span: trace.Span, client: "Langfuse") -> None:
        self._span = span
        self._client = client
        span_context = span.get_span_context()
        self.trace_id: str = schema.format_trace_id(span_context.trace_id)
        self.id: str = schema.format_span_id(span_context.span_id)

    @property
    def otel_span(self) -> trace.Span:
        """The OpenTelemetry span underneath."""
        return self._span

    def score(
        self,
        *,
        name: str,
        value: Any,
        score_id: Optional[str] = None,
        data_type: Optional[str] = None,
        comment: Optional[str] = None,
        config_id: Optional[str] = None,
        timestamp: Optional[datetime] = None,
        metadata: Any = None,
        environment: Optional[str] = None,
    ) -> None:
        """Score this observation."""
        options = _score_options(score_id, data_type, comment, config_id, metadata, timestamp, environment)
        score_span("LangfuseSpan.score", self._span, Scope.SPAN, name, value, options)

    def score_trace(
        self,
        *,
        name: str,
        value: Any,
        score_id: Optional[str] = None,
        data_type: Optional[str] = None,
        comment: Optional[str] = None,
        config_id: Optional[str] = None,
        timestamp: Optional[datetime] = None,
        metadata: Any = None,
        environment: Optional[str] = None,
    ) -> None:
        """Score the whole trace this observation belongs to."""
        options = _score_options(score_id, data_type, comment, config_id, metadata, timestamp, environment)
        score_span("LangfuseSpan.score_trace", self._span, Scope.TRACE, name, value, options)

    @handle_internal_errors("LangfuseSpan.update")
    def update(self, *, name: Optional[str] = None, **fields: Any) -> "LangfuseSpan":
        """Record ``input``, ``output``, ``metadata``, ``level``, ``model``, ... on the span.

        Langfuse's other keywords (``usage_details``, ``cost_details``, ``prompt``, ...) are accepted
        and not recorded.
        """
        if name is not None and isinstance(name, str):
            self._span.update_name(name)
        _set_observation_attributes(self._span, fields)
        return self

    @handle_internal_errors("LangfuseSpan.end")
    def end(self, *, end_time: Optional[int] = None) -> "LangfuseSpan":
        """End the span (``end_time`` in nanoseconds since the epoch, else now)."""
        self._span.end(end_time=end_time)
        return self

    # Children: the same methods as the client, parented on this span.

    def start_as_current_observation(self, *, name: str, as_type: str = "span", end_on_exit: Optional[bool] = None, **fields: Any) -> Any:
        """A child observation, current inside the ``with`` block."""
        return self._client._current(name, as_type, end_on_exit, trace.set_span_in_context(self._span), fields)

    def start_as_current_span(self, *, name: str, end_on_exit: Optional[bool] = None, **fields: Any) -> Any:
        return self.start_as_current_observation(name=name, as_type="span", end_on_exit=end_on_exit, **fields)

    def start_as_current_generation(self, *, name: str, end_on_exit: Optional[bool] = None, **fields: Any) -> Any:
        return self.start_as_current_observation(name=name, as_type="generation", end_on_exit=end_on_exit, **fields)

    def start_observation(self, *, name: str, as_type: str = "span", **fields: Any) -> "LangfuseSpan":
        """A child observation that is not made current; call ``end()`` on it."""
        return self._client._start(name, as_type, trace.set_span_in_context(self._span), fields)

    def start_span(self, *, name: str, **fields: Any) -> "LangfuseSpan":
        return self.start_observation(name=name, as_type="span", **fields)

    def start_generation(self, *, name: str, **fields: Any) -> "LangfuseSpan":
        return self.start_observation(name=name, as_type="generation", **fields)


def _set_observation_attributes(span: trace.Span, fields: Mapping[str, Any]) -> None:
    attributes = {key: _attribute_text(fields[field]) for field, key in _OBSERVATION_ATTRIBUTES.items() if fields.get(field) is not None}
    if attributes:
        span.set_attributes(attributes)


class Langfuse:
    """The client :func:`get_client` returns: Langfuse's scoring and tracing calls over OpenTelemetry."""

    def __init__(self, tracer_provider: trace.TracerProvider, owns_provider: bool = False) -> None:
        self._provider = tracer_provider
        self._owns_provider = owns_provider
        self._tracer = tracer_provider.get_tracer(TRACER_NAME)

    # --- Scores -----------------------------------------------------------------------------------

    def create_score(
        self,
        *,
        name: str,
        value: Any,
        session_id: Optional[str] = None,
        dataset_run_id: Optional[str] = None,
        trace_id: Optional[str] = None,
        observation_id: Optional[str] = None,
        score_id: Optional[str] = None,
        data_type: Optional[str] = None,
        comment: Optional[str] = None,
        config_id: Optional[str] = None,
        metadata: Any = None,
        timestamp: Optional[datetime] = None,
        environment: Optional[str] = None,
    ) -> None:
        """Score a trace, observation, session or dataset run by id (:func:`otel_scoring.create_score`)."""
        _create_score(
            name=name,
            value=value,
            session_id=session_id,
            dataset_run_id=dataset_run_id,
            trace_id=trace_id,
            observation_id=observation_id,
            score_id=score_id,
            data_type=data_type,  # type: ignore[arg-type]  # Langfuse's wider set is checked and warned about
            comment=comment,
            config_id=config_id,
            metadata=metadata,
            timestamp=timestamp,
            environment=environment,
        )

    def score_current_span(
        self,
        *,
        name: str,
        value: Any,
        score_id: Optional[str] = None,
        data_type: Optional[str] = None,
        comment: Optional[str] = None,
        config_id: Optional[str] = None,
        metadata: Any = None,
        timestamp: Optional[datetime] = None,
        environment: Optional[str] = None,
        step: Optional[str] = None,
    ) -> None:
        """Score the active span (:func:`otel_scoring.score_current_span`, ``step=`` included)."""
        _score_current_span(
            name=name,
            value=value,
            score_id=score_id,
            data_type=data_type,  # type: ignore[arg-type]
            comment=comment,
            config_id=config_id,
            metadata=metadata,
            timestamp=timestamp,
            environment=environment,
            step=step,
        )

    def score_current_trace(
        self,
        *,
        name: str,
        value: Any,
        score_id: Optional[str] = None,
        data_type: Optional[str] = None,
        comment: Optional[str] = None,
        config_id: Optional[str] = None,
        metadata: Any = None,
        timestamp: Optional[datetime] = None,
        environment: Optional[str] = None,
    ) -> None:
        """Score the active span's trace (:func:`otel_scoring.score_current_trace`)."""
        _score_current_trace(
            name=name,
            value=value,
            score_id=score_id,
            data_type=data_type,  # type: ignore[arg-type]
            comment=comment,
            config_id=config_id,
            metadata=metadata,
            timestamp=timestamp,
            environment=environment,
        )

    # --- Observations -----------------------------------------------------------------------------

    def start_as_current_observation(
        self, *, name: str, as_type: str = "span", trace_context: Optional[Mapping[str, str]] = None, end_on_exit: Optional[bool] = None, **fields: Any
    ) -> Any:
        """A span, current inside the ``with`` block, yielding a :class:`LangfuseSpan`.

        ``trace_context={"trace_id": ..., "parent_span_id": ...}`` continues a trace known by id.
        """
        return self._current(name, as_type, end_on_exit, _parent_context(trace_context), fields)

    def start_as_current_span(self, *, name: str, trace_context: Optional[Mapping[str, str]] = None, end_on_exit: Optional[bool] = None, **fields: Any) -> Any:
        return self.start_as_current_observation(name=name, as_type="span", trace_context=trace_context, end_on_exit=end_on_exit, **fields)

    def start_as_current_generation(self, *, name: str, trace_context: Optional[Mapping[str, str]] = None, end_on_exit: Optional[bool] = None, **fields: Any) -> Any:
        return self.start_as_current_observation(name=name, as_type="generation", trace_context=trace_context, end_on_exit=end_on_exit, **fields)

    def start_observation(self, *, name: str, as_type: str = "span", trace_context: Optional[Mapping[str, str]] = None, **fields: Any) -> LangfuseSpan:
        """A span that is not made current (a child of the current one); call ``end()`` on it."""
        return self._start(name, as_type, _parent_context(trace_context), fields)

    def start_span(self, *, name: str, trace_context: Optional[Mapping[str, str]] = None, **fields: Any) -> LangfuseSpan:
        return self.start_observation(name=name, as_type="span", trace_context=trace_context, **fields)

    def start_generation(self, *, name: str, trace_context: Optional[Mapping[str, str]] = None, **fields: Any) -> LangfuseSpan:
        return self.start_observation(name=name, as_type="generation", trace_context=trace_context, **fields)

    @handle_internal_errors("Langfuse.update_current_span")
    def update_current_span(self, **fields: Any) -> None:
        """Record ``input``, ``output``, ``metadata``, ... on the active span."""
        _set_observation_attributes(trace.get_current_span(), fields)

    update_current_generation = update_current_span

    @contextmanager
    def _current(self, name: str, as_type: str, end_on_exit: Optional[bool], context: Any, fields: Mapping[str, Any]) -> Iterator[LangfuseSpan]:
        # The user's exceptions inside the block propagate, as with the tracer's own context manager.
        with self._tracer.start_as_current_span(name, context=context, end_on_exit=end_on_exit is not False) as span:
            wrapper = LangfuseSpan(span, self)
            with handle_internal_errors("Langfuse.start_as_current_observation"):
                span.set_attribute(schema.LANGFUSE_OBSERVATION_TYPE, as_type)
                _set_observation_attributes(span, fields)
            yield wrapper

    def _start(self, name: str, as_type: str, context: Any, fields: Mapping[str, Any]) -> LangfuseSpan:
        span = self._tracer.start_span(name, context=context)
        with handle_internal_errors("Langfuse.start_observation"):
            span.set_attribute(schema.LANGFUSE_OBSERVATION_TYPE, as_type)
            _set_observation_attributes(span, fields)
        return LangfuseSpan(span, self)

    # --- Ids --------------------------------------------------------------------------------------

    def get_current_trace_id(self) -> Optional[str]:
        """The active span's trace id as 32 hex digits, None without one."""
        span_context = trace.get_current_span().get_span_context()
        return schema.format_trace_id(span_context.trace_id) if span_context.is_valid else None

    def get_current_observation_id(self) -> Optional[str]:
        """The active span's id as 16 hex digits, None without one."""
        span_context = trace.get_current_span().get_span_context()
        return schema.format_span_id(span_context.span_id) if span_context.is_valid else None

    @staticmethod
    def create_trace_id(*, seed: Optional[str] = None) -> str:
        """A new trace id; from ``seed``, always the same one (as Langfuse derives it: SHA-256)."""
        if seed is None:
            return os.urandom(16).hex()
        return hashlib.sha256(seed.encode("utf-8")).digest()[:16].hex()

    # --- Lifecycle ---------------------------------------------------------------------------------

    @handle_internal_errors("Langfuse.flush")
    def flush(self) -> None:
        """Export everything recorded so far (the provider's ``force_flush``)."""
        force_flush = getattr(self._provider, "force_flush", None)
        if force_flush is not None:
            force_flush()

    @handle_internal_errors("Langfuse.shutdown")
    def shutdown(self) -> None:
        """Flush; and shut the provider down if :func:`get_client` built it."""
        global _configured
        if self._owns_provider and isinstance(self._provider, TracerProvider):
            self._provider.shutdown()
            with _lock:
                if _configured is self:
                    _configured = None
        else:
            self.flush()


def _parent_context(trace_context: Optional[Mapping[str, str]]) -> Any:
    """The context for Langfuse's ``trace_context``: a remote parent in that trace, else the current."""
    if not trace_context:
        return None
    with handle_internal_errors("Langfuse trace_context"):
        trace_id = int(trace_context["trace_id"], 16)
        parent = trace_context.get("parent_span_id")
        span_id = int(parent, 16) if parent else (trace_id & 0xFFFFFFFFFFFFFFFF) or 1
        parent_context = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
        return trace.set_span_in_context(NonRecordingSpan(parent_context))
    return None


_lock = threading.Lock()
_configured: Optional[Langfuse] = None  # the client whose provider get_client() built
# One client per provider, as Langfuse's get_client() returns the same client on every call.
_clients: "weakref.WeakKeyDictionary[trace.TracerProvider, Langfuse]" = weakref.WeakKeyDictionary()


def get_client(*, public_key: Optional[str] = None) -> Langfuse:
    """Langfuse's ``get_client()``, over otel-scoring.

    With a ``ScoringSpanProcessor`` already set up (``configure()``, a processor added by hand, or
    ``OTEL_SCORING_ENABLED`` under ``opentelemetry-instrument``) the client uses its provider.
    Otherwise it enables scoring on a global SDK ``TracerProvider`` as zero-code mode does
    (:func:`otel_scoring.auto.enable_scoring`), and else calls
    :func:`otel_scoring.configure` from the standard ``OTEL_*`` environment, once per process.
    ``public_key`` (Langfuse's project key) is accepted and not needed.
    """
    global _configured
    processors = _registry.live()
    if processors:
        provider = processors[-1]._provider()
        with _lock:
            client = _clients.get(provider)
            if client is None:
                client = _clients[provider] = Langfuse(provider)
            return client
    with _lock:
        if _configured is None:
            _configured = _set_up()
            with handle_internal_errors("get_client"):
                _clients[_configured._provider] = _configured  # later calls find it through its processor
        return _configured


def _set_up() -> Langfuse:
    from otel_scoring.auto import enable_scoring
    from otel_scoring.configuration import configure

    provider = trace.get_tracer_provider()
    try:
        if isinstance(provider, TracerProvider):  # an SDK provider someone else built: extend it
            enable_scoring(provider)
            return Langfuse(provider)
        return Langfuse(configure(), owns_provider=True)
    except Exception as error:  # noqa: BLE001 - a bad OTEL_* setting must not stop the app
        _logger.warning(
            "otel_scoring.langfuse.get_client() could not set up scoring, scores will not be recorded: %s: %s. "
            "Fix the OTEL_EXPORTER_OTLP_* / OTEL_SCORING_* setting it names, or call otel_scoring.configure() before get_client().",
            type(error).__name__,
            error,
        )
        return Langfuse(provider)
