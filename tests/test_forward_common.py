"""What every destination shares: building forwarders from specs, retries, never raising, the sink."""

from __future__ import annotations

import logging
import time
from typing import Iterator, List, Sequence

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from support.fakes.langfuse import SCORES_PATH, FakeLangfuse
from support.fakes.server_process import free_port
from otel_scoring import score_current_span, score_current_trace
from otel_scoring.environment_variables import OTEL_SCORING_RAISE_INTERNAL_ERRORS
from otel_scoring.forward import (
    DESTINATIONS,
    Forwarder,
    ForwardingSink,
    ForwardResult,
    LangfuseForwarder,
    MLflowForwarder,
    PhoenixForwarder,
    RetryPolicy,
    build_forwarder,
    forward_records,
)
from otel_scoring.records import MetadataRecord, ScoreRecord
from otel_scoring.translate import Translation, records_from_spans

FAST_RETRIES = RetryPolicy(max_attempts=3, initial_backoff_seconds=0.01, max_backoff_seconds=0.05, max_elapsed_seconds=5)


@pytest.fixture
def langfuse() -> Iterator[FakeLangfuse]:
    with FakeLangfuse(public_key="pk", secret_key="sk") as server:
        yield server


@pytest.fixture
def to_langfuse(langfuse: FakeLangfuse) -> Iterator[LangfuseForwarder]:
    with LangfuseForwarder(langfuse.url, public_key="pk", secret_key="sk", retry_policy=FAST_RETRIES) as forwarder:
        yield forwarder


@pytest.fixture
def translation(tracer, exporter: InMemorySpanExporter) -> Translation:
    with tracer.start_as_current_span("agent-run"):
        with tracer.start_as_current_span("llm-call"):
            score_current_span(name="relevance", value=0.7)
        score_current_trace(name="resolved", value=True)
    return records_from_spans(exporter.get_finished_spans())


def _unused_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


def test_specs_build_the_named_destination_at_the_given_url() -> None:
    """phoenix=, mlflow= and langfuse= each build their forwarder, pointed at the URL given."""
    phoenix = build_forwarder("phoenix=http://127.0.0.1:6006/v1/traces")
    mlflow = build_forwarder("MLflow = http://127.0.0.1:5000/")

    assert (type(phoenix), phoenix.endpoint) == (PhoenixForwarder, "http://127.0.0.1:6006")
    assert (type(mlflow), mlflow.endpoint) == (MLflowForwarder, "http://127.0.0.1:5000")
    assert set(DESTINATIONS) == {"phoenix", "mlflow", "langfuse"}
    assert all(isinstance(f, Forwarder) for f in (phoenix, mlflow))


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("", "expected phoenix=URL"),
        ("jaeger=http://127.0.0.1:16686", "unknown forward destination 'jaeger'"),
        ("phoenix=ftp://127.0.0.1", "http:// or https://"),
        ("mlflow=http://user:secret@127.0.0.1:5000", "credentials in the destination's environment variables"),
    ],
)
def test_a_bad_spec_is_a_value_error_that_names_the_problem(spec: str, problem: str) -> None:
    """An empty spec, an unknown destination, a non-HTTP URL or credentials in the URL fail at construction."""
    with pytest.raises(ValueError, match=problem):
        build_forwarder(spec)


def test_a_destination_without_url_uses_its_own_environment_variable(monkeypatch) -> None:
    """``phoenix`` alone reads PHOENIX_COLLECTOR_ENDPOINT, as Phoenix's own clients do."""
    monkeypatch.setenv("PHOENIX_COLLECTOR_ENDPOINT", "http://127.0.0.1:6006")

    assert build_forwarder("phoenix").endpoint == "http://127.0.0.1:6006"


def test_an_unreachable_destination_counts_failures_and_warns_once(translation: Translation, caplog) -> None:
    """Connection refused is retried within bounds, then counted; repeated batches do not repeat the warning."""
    with PhoenixForwarder(_unused_url(), retry_policy=FAST_RETRIES) as forwarder, caplog.at_level(logging.DEBUG, logger="otel_scoring.forward"):
        results = [forwarder.forward(translation.scores, translation.metadata) for _ in range(3)]

    assert [(r.sent, r.failed) for r in results] == [(0, 2)] * 3
    assert "cannot connect" in results[0].errors[0]
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    retries = [r for r in caplog.records if r.levelno == logging.DEBUG and "retry" in r.getMessage()]
    assert len(retries) == 3 * 2 * (FAST_RETRIES.max_attempts - 1)  # 3 calls, 2 requests each


def test_a_destination_that_comes_back_is_logged_as_working_again(langfuse, to_langfuse, translation, caplog) -> None:
    """After failures, the first clean batch logs that forwarding works again."""
    langfuse.fail_next(FAST_RETRIES.max_attempts, 503)

    with caplog.at_level(logging.INFO, logger="otel_scoring.forward"):
        failed = to_langfuse.forward(translation.scores[:1], [])
        recovered = to_langfuse.forward(translation.scores, [])

    assert (failed.failed, recovered.sent, recovered.failed) == (1, 2, 0)
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]
    assert "works again" in caplog.records[1].getMessage()


def test_server_errors_stop_after_the_attempt_limit(langfuse, to_langfuse, translation) -> None:
    """A destination that keeps answering 500 gets max_attempts requests per score, then the score fails."""
    langfuse.fail_next(10, 500)

    result = to_langfuse.forward(translation.scores[:1], [])

    assert (result.sent, result.failed) == (0, 1)
    assert len(langfuse.requests_to("POST", SCORES_PATH)) == FAST_RETRIES.max_attempts


def test_a_bad_request_is_never_retried(langfuse, to_langfuse, translation) -> None:
    """A 400 means the request itself is wrong: one attempt, counted as failed."""
    langfuse.fail_next(1, 400)

    result = to_langfuse.forward(translation.scores[:1], [])

    assert (result.failed, len(langfuse.requests)) == (1, 1)


def test_forward_records_takes_a_translation_or_records_and_reports_each_destination(langfuse, to_langfuse, translation) -> None:
    """One result per forwarder, in order; an unreachable destination does not stop the next one."""
    unreachable = PhoenixForwarder(_unused_url(), retry_policy=FAST_RETRIES)

    from_translation = forward_records(translation, [unreachable, to_langfuse])
    from_records = forward_records([*translation.scores, *translation.metadata], [to_langfuse])

    assert [(r.destination, r.sent, r.failed) for r in from_translation] == [("phoenix", 0, 2), ("langfuse", 2, 0)]
    assert [(r.destination, r.sent) for r in from_records] == [("langfuse", 2)]
    assert len(langfuse.scores) == 2


class _BrokenForwarder:
    """A forwarder with a bug: its forward raises."""

    destination = "broken"

    def forward(self, scores: Sequence[ScoreRecord], metadata: Sequence[MetadataRecord]) -> ForwardResult:
        raise RuntimeError("bug in a forwarder")


def test_a_broken_forwarder_never_raises_into_the_caller(monkeypatch, to_langfuse, translation, caplog) -> None:
    """Outside our test suite an internal error is logged, its records counted as failed, and others still run."""
    monkeypatch.setenv(OTEL_SCORING_RAISE_INTERNAL_ERRORS, "false")

    with caplog.at_level(logging.ERROR, logger="otel_scoring"):
        results = forward_records(translation, [_BrokenForwarder(), to_langfuse])

    assert [(r.destination, r.sent, r.failed) for r in results] == [("broken", 0, 2), ("langfuse", 2, 0)]
    assert "Internal error in otel-scoring" in caplog.records[0].getMessage()


def test_retry_policies_reject_nonsense_at_construction() -> None:
    """Zero attempts or a negative backoff are programmer errors and raise ValueError."""
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="initial_backoff_seconds"):
        RetryPolicy(initial_backoff_seconds=-1)


def test_the_sink_forwards_in_the_background_and_drops_what_does_not_fit(langfuse, to_langfuse, translation, caplog) -> None:
    """Submitting never waits on the destination; a full queue drops the batch with one warning."""
    sink = ForwardingSink([to_langfuse], max_pending_batches=1)
    first, second, third = ([score] for score in (*translation.scores, translation.scores[0]))
    langfuse.pause()  # the destination hangs: the worker is stuck on the first batch

    with caplog.at_level(logging.WARNING, logger="otel_scoring.forward"):
        accepted = [sink.submit(first)]
        accepted += [_submit_when_worker_busy(sink, langfuse, second), sink(third)]
    langfuse.resume()
    flushed = sink.force_flush(10)
    sink.shutdown()

    assert accepted == [True, True, False]
    assert flushed is True
    assert [(t.destination, t.sent, t.failed) for t in sink.totals] == [("langfuse", 2, 0)]
    assert sink.dropped_batches == 1
    assert ["WARNING"] == [r.levelname for r in caplog.records]
    assert set(langfuse.scores) == {score.id for score in translation.scores}


def _submit_when_worker_busy(sink: ForwardingSink, server: FakeLangfuse, records: List[ScoreRecord]) -> bool:
    """Submit once the worker has taken the first batch off the queue (it is stuck sending it)."""
    deadline = time.monotonic() + 10
    while not server.requests_in_flight() and time.monotonic() < deadline:
        time.sleep(0.01)
    return sink.submit(records)


def test_a_shut_down_sink_refuses_batches_and_shuts_down_twice_safely(to_langfuse, translation) -> None:
    """After shutdown, submit returns False and a second shutdown is harmless."""
    sink = ForwardingSink([to_langfuse])
    sink.submit(translation)
    assert sink.shutdown(10) is True

    assert sink.submit(translation) is False
    assert sink.shutdown(1) is True
    assert [t.sent for t in sink.totals] == [2]
