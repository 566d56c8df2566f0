"""Test helpers for code that records scores: the ``scoring_capture`` pytest fixture.

Installing otel-scoring registers this module as a pytest plugin (the ``pytest11`` entry point),
so any test can ask for the fixture::

    def test_summary_is_confident(scoring_capture):
        summarize_ticket("T-1")  # your code: trace.get_tracer(__name__), otel_scoring.score_current_span(...)
        assert scoring_capture.score("model-confidence").value >= 0.8

While a capture is open, every span of the global tracer provider (or of the provider you pass)
goes through a fresh :class:`~otel_scoring.ScoringSpanProcessor` and into an in-memory exporter;
``.scores`` and ``.metadata`` read them back as records, exactly as a backend would.

Why spans are routed rather than the global provider swapped: OpenTelemetry lets the global
provider be set once per process, and a tracer your module got with ``trace.get_tracer()`` stays
bound to the first provider it saw, so swapping and restoring providers per test would silently
capture nothing from the second test on. Instead a capture attaches one small router processor to
the global SDK provider (setting one only if none was set yet) and activates it while the capture
is open; between captures the router forwards nothing. Importing this module has no side effects.
"""

from __future__ import annotations

import logging
import threading
import weakref
from types import TracebackType
from typing import TYPE_CHECKING, Iterator, List, Optional, Tuple, Type, Union

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_scoring.configs import ScoreConfigRegistry
from otel_scoring.processor import ScoringSpanProcessor
from otel_scoring.records import MetadataRecord, ScoreRecord

if TYPE_CHECKING:
    from otel_scoring.translate import Translation

try:
    import pytest
except ImportError:  # the fixture needs pytest; ScoringCapture itself does not
    pytest = None  # type: ignore[assignment]

__all__ = ["ScoringCapture"]

_logger = logging.getLogger(__name__)

TRACER_NAME = "otel_scoring.testing"

_Sinks = Tuple[SpanProcessor, ...]


class _CaptureRouter(SpanProcessor):
    """Added once to a tracer provider; hands every span to the captures open at the moment."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: Tuple[_Sinks, ...] = ()

    def attach(self, sinks: _Sinks) -> None:
        with self._lock:
            self._open = self._open + (sinks,)

    def detach(self, sinks: _Sinks) -> None:
        with self._lock:
            self._open = tuple(s for s in self._open if s is not sinks)

    def on_start(self, span: Span, parent_context: Optional[context_api.Context] = None) -> None:
        for sinks in self._open:
            for sink in sinks:
                sink.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        for sinks in self._open:
            for sink in sinks:
                sink.on_end(span)

    def shutdown(self) -> None:
        pass  # captures own their sinks and shut them down when they close

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all(sink.force_flush(timeout_millis) for sinks in self._open for sink in sinks)


_routers: "weakref.WeakKeyDictionary[TracerProvider, _CaptureRouter]" = weakref.WeakKeyDictionary()
_routers_lock = threading.Lock()


def _router_for(provider: TracerProvider) -> _CaptureRouter:
    with _routers_lock:
        router = _routers.get(provider)
        if router is None:
            router = _CaptureRouter()
            provider.add_span_processor(router)
            _routers[provider] = router
        return router


def _global_sdk_provider() -> Optional[TracerProvider]:
    """The global SDK tracer provider, setting a default one if none was set yet."""
    with _routers_lock:
        if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            trace.set_tracer_provider(TracerProvider())
    provider = trace.get_tracer_provider()
    return provider if isinstance(provider, TracerProvider) else None


class ScoringCapture:
    """Spans, scores and metadata recorded while the capture is open.

    Use it as a context manager (the ``scoring_capture`` fixture opens one per test)::

        with ScoringCapture(score_configs=registry) as capture:
            run_my_pipeline()
        assert [s.name for s in capture.scores] == ["model-confidence", "guardrail-pass"]

    Args:
        tracer_provider: the SDK provider whose spans to capture. Defaults to the global one; if
            the global provider is not the SDK's, a private provider is used and only spans
            started from :attr:`tracer` are captured.
        score_configs, strict: passed to the capture's :class:`ScoringSpanProcessor`.
    """

    def __init__(
        self,
        *,
        tracer_provider: Optional[TracerProvider] = None,
        score_configs: Union[ScoreConfigRegistry, str, None] = None,
        strict: Optional[bool] = None,
    ) -> None:
        self._requested_provider = tracer_provider
        self._score_configs = score_configs
        self._strict = strict
        self.exporter = InMemorySpanExporter()
        self._sinks: Optional[_Sinks] = None
        self._router: Optional[_CaptureRouter] = None
        self._processor: Optional[ScoringSpanProcessor] = None
        self._provider: Optional[TracerProvider] = None

    # --- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> "ScoringCapture":
        """Begin capturing. Idempotent."""
        if self._sinks is not None:
            return self
        provider = self._requested_provider or _global_sdk_provider()
        if provider is None:
            _logger.warning(
                "The global tracer provider is a %s, not the OpenTelemetry SDK's: only spans started from "
                "ScoringCapture.tracer are captured.",
                type(trace.get_tracer_provider()).__name__,
            )
            provider = TracerProvider()
        self._processor = ScoringSpanProcessor(tracer_provider=provider, score_configs=self._score_configs, strict=self._strict)
        self._sinks = (self._processor, SimpleSpanProcessor(self.exporter))
        self._router = _router_for(provider)
        self._router.attach(self._sinks)
        self._provider = provider
        return self

    def stop(self) -> None:
        """Stop capturing; what was captured stays readable. Idempotent."""
        if self._sinks is None:
            return
        if self._router is not None:
            self._router.detach(self._sinks)
        if self._processor is not None:
            self._processor.shutdown()
        self._sinks = None

    def __enter__(self) -> "ScoringCapture":
        return self.start()

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        self.stop()

    # --- what tests use -----------------------------------------------------------------------------

    @property
    def provider(self) -> TracerProvider:
        """The tracer provider being captured."""
        if self._provider is None:
            raise RuntimeError("the capture has not been started; use it as a context manager or call start()")
        return self._provider

    @property
    def tracer(self) -> trace.Tracer:
        """A tracer of the captured provider, for tests that start their own spans."""
        return self.provider.get_tracer(TRACER_NAME)

    @property
    def processor(self) -> ScoringSpanProcessor:
        """The capture's scoring processor (its ``score_configs`` validate scores)."""
        if self._processor is None:
            raise RuntimeError("the capture has not been started; use it as a context manager or call start()")
        return self._processor

    @property
    def spans(self) -> Tuple[ReadableSpan, ...]:
        """Every span that ended while the capture was open, in the order they ended."""
        return self.exporter.get_finished_spans()

    @property
    def translation(self) -> "Translation":
        """The captured spans read back by the translator, as a backend would see them."""
        from otel_scoring.translate import records_from_spans  # imported on use: keeps the plugin cheap to load

        return records_from_spans(self.spans)

    @property
    def scores(self) -> List[ScoreRecord]:
        """Every score recorded, one record per score id (the latest write), oldest first."""
        return list(self.translation.scores)

    @property
    def metadata(self) -> List[MetadataRecord]:
        """Every metadata update recorded, oldest first."""
        return list(self.translation.metadata)

    def scores_named(self, name: str) -> List[ScoreRecord]:
        """The scores called ``name``, oldest first."""
        return [score for score in self.scores if score.name == name]

    def score(self, name: str) -> ScoreRecord:
        """The latest score called ``name``; fails the test, listing what was recorded, if there is none."""
        __tracebackhide__ = True  # pytest shows the failing test line, not this helper
        found = self.scores_named(name)
        if not found:
            recorded = sorted({score.name for score in self.scores})
            raise AssertionError(f"no score named {name!r} was recorded; scores recorded: {recorded or 'none'}")
        return found[-1]

    def clear(self) -> None:
        """Forget what was captured so far (the capture stays open)."""
        self.exporter.clear()


if pytest is not None:

    @pytest.fixture
    def scoring_capture() -> Iterator[ScoringCapture]:
        """Scores, metadata and spans recorded during the test, from the global tracer provider.

        A fresh ScoringSpanProcessor and in-memory exporter per test; nothing leaks between tests.
        """
        with ScoringCapture() as capture:
            yield capture
