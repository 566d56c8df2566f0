"""Shared fixtures: a real TracerProvider with the scoring processor and an in-memory exporter."""

from __future__ import annotations

import gc
import os

# Internal errors re-raise in our own suite so bugs stay loud (never set this in production).
os.environ["OTEL_SCORING_RAISE_INTERNAL_ERRORS"] = "true"
# Every warning logged, so each test sees its own (tests/test_warnings.py turns de-duplication on).
os.environ["OTEL_SCORING_WARNING_INTERVAL"] = "0"

from typing import Callable, Iterator, List  # noqa: E402

import pytest  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from otel_scoring import ScoreConfigRegistry, ScoringSpanProcessor  # noqa: E402
from otel_scoring import _registry  # noqa: E402


@pytest.fixture
def score_configs() -> ScoreConfigRegistry:
    return ScoreConfigRegistry()


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter, score_configs: ScoreConfigRegistry) -> Iterator[TracerProvider]:
    """A provider as a user builds it: scoring processor first, then export."""
    tracer_provider = TracerProvider(resource=Resource.create({"service.name": "test-service"}))
    tracer_provider.add_span_processor(ScoringSpanProcessor(tracer_provider=tracer_provider, score_configs=score_configs))
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield tracer_provider
    tracer_provider.shutdown()


@pytest.fixture
def tracer(provider: TracerProvider):
    return provider.get_tracer("tests")


_COUNTS = pytest.StashKey[List[str]]()


@pytest.fixture
def report_counts(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record a line for the run's summary (the failure tests' scores sent / stored / duplicated),
    which pytest prints even when every test passes, unlike a test's own output."""
    return request.config.stash.setdefault(_COUNTS, []).append


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    lines = config.stash.get(_COUNTS, [])
    if lines:
        terminalreporter.section("scores through failures")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(autouse=True, scope="module")
def no_scoring_processor_outlives_its_module() -> Iterator[None]:
    """A processor left registered takes the scores of every later test that has no trace of its
    own (create_score picks the newest), so results would depend on test order: fail instead."""
    yield
    gc.collect()  # a provider dropped without shutdown() is only a cycle away from collection
    leaked = _registry.live()
    if leaked:
        pytest.fail(f"{len(leaked)} ScoringSpanProcessor(s) still registered after this module: shut their providers down")
