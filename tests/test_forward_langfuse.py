"""Forwarding to Langfuse's public scores API, against a local server that behaves like Langfuse's."""

from __future__ import annotations

import dataclasses
import logging
from typing import Dict, Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from support.fakes.langfuse import SCORES_PATH, FakeLangfuse
from otel_scoring import ScoreConfig, ScoreConfigRegistry, create_score, metadata, score_current_span, score_current_trace
from otel_scoring.environment_variables import LANGFUSE_BASE_URL, LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY
from otel_scoring.forward import LangfuseForwarder, RetryPolicy, build_forwarder, forward_records
from otel_scoring.records import ScoreRecord
from otel_scoring.schema import SCORE_CONFIG_ID, format_span_id, format_trace_id
from otel_scoring.translate import records_from_spans

FAST_RETRIES = RetryPolicy(max_attempts=4, initial_backoff_seconds=0.01, max_backoff_seconds=0.05, max_elapsed_seconds=5)


@pytest.fixture
def score_configs() -> ScoreConfigRegistry:
    registry = ScoreConfigRegistry()
    registry.add(ScoreConfig(id="quality-v1", name="quality", data_type="NUMERIC", min_value=0, max_value=1))
    return registry


@pytest.fixture
def langfuse() -> Iterator[FakeLangfuse]:
    with FakeLangfuse(public_key="pk-lf-1", secret_key="sk-lf-1", config_ids={"cfg-langfuse-1"}) as server:
        yield server


@pytest.fixture
def forwarder(langfuse: FakeLangfuse) -> Iterator[LangfuseForwarder]:
    with LangfuseForwarder(langfuse.url, public_key="pk-lf-1", secret_key="sk-lf-1", retry_policy=FAST_RETRIES) as forwarder:
        yield forwarder


@pytest.fixture
def run(tracer, exporter: InMemorySpanExporter) -> Dict[str, object]:
    """One scored run: span, trace, session and dataset-run scores of every data type."""
    with tracer.start_as_current_span("agent-run") as root:
        with tracer.start_as_current_span("llm-call") as step:
            score_current_span(name="quality", value=0.75, config_id="quality-v1", comment="judge said so")
        score_current_trace(name="guardrail-pass", value=True)
        score_current_trace(name="tone", value="friendly", data_type="CATEGORICAL")
    create_score(name="csat", value=4, session_id="session-9", metadata={"channel": "web"})
    create_score(name="suite-accuracy", value=0.9, dataset_run_id="run-7")
    return {
        "trace_id": format_trace_id(root.get_span_context().trace_id),
        "span_id": format_span_id(step.get_span_context().span_id),
        "scores": {r.name: r for r in records_from_spans(exporter.get_finished_spans()).scores},
    }


def _scores(run: Dict[str, object]) -> Dict[str, ScoreRecord]:
    return run["scores"]  # type: ignore[return-value]


def test_each_score_lands_in_langfuse_with_its_id_target_and_typed_value(langfuse, forwarder, run) -> None:
    """Every scope maps to exactly one Langfuse target and every data type to its value type."""
    scores = _scores(run)
    result = forwarder.forward(list(scores.values()), [])

    assert (result.sent, result.skipped, result.failed) == (5, 0, 0)
    stored = {score["name"]: score for score in langfuse.scores.values()}
    assert stored["quality"] == {
        "id": scores["quality"].id, "name": "quality", "traceId": run["trace_id"], "observationId": run["span_id"],
        "dataType": "NUMERIC", "value": 0.75, "comment": "judge said so",
        "metadata": {SCORE_CONFIG_ID: "quality-v1"}, "source": "API",
    }
    assert (stored["guardrail-pass"]["traceId"], stored["guardrail-pass"]["dataType"], stored["guardrail-pass"]["value"]) == (run["trace_id"], "BOOLEAN", 1)
    assert "observationId" not in stored["guardrail-pass"]
    assert (stored["tone"]["dataType"], stored["tone"]["value"]) == ("CATEGORICAL", "friendly")
    assert {k: stored["csat"].get(k) for k in ("sessionId", "traceId", "value", "metadata")} == {
        "sessionId": "session-9", "traceId": None, "value": 4.0, "metadata": {"channel": "web"},
    }
    assert {k: stored["suite-accuracy"].get(k) for k in ("datasetRunId", "traceId")} == {"datasetRunId": "run-7", "traceId": None}
    assert set(langfuse.scores) == {score.id for score in scores.values()}


def test_re_sending_scores_updates_them_instead_of_adding_more(langfuse, forwarder, run) -> None:
    """Langfuse upserts by id, so forwarding twice (with one value changed) leaves one score each."""
    scores = list(_scores(run).values())
    forwarder.forward(scores, [])
    changed = [dataclasses.replace(s, value=0.2) if s.name == "quality" else s for s in scores]

    result = forwarder.forward(changed, [])

    assert result.sent == 5
    assert len(langfuse.scores) == 5
    assert langfuse.scores[_scores(run)["quality"].id]["value"] == 0.2


def test_many_scores_are_sent_several_at_a_time_after_the_first(langfuse, run) -> None:
    """With a slow Langfuse, up to `concurrency` requests are in flight at once, and every score lands."""
    quality = _scores(run)["quality"]
    scores = [dataclasses.replace(quality, id=f"{quality.id}-{n}", value=n / 10) for n in range(9)]
    langfuse.delay_seconds = 0.2

    with LangfuseForwarder(langfuse.url, public_key="pk-lf-1", secret_key="sk-lf-1", retry_policy=FAST_RETRIES, concurrency=4) as forwarder:
        result = forwarder.forward(scores, [])

    assert (result.sent, result.failed) == (9, 0)
    assert langfuse.max_in_flight == 4
    assert {score_id: stored["value"] for score_id, stored in langfuse.scores.items()} == {s.id: s.value for s in scores}


def test_writes_of_one_score_id_in_one_call_land_in_order(langfuse, forwarder, run) -> None:
    """The same score id several times in one call: sent one at a time, so the last value is the one Langfuse keeps."""
    quality = _scores(run)["quality"]
    versions = [dataclasses.replace(quality, value=value) for value in (0.1, 0.2, 0.3, 0.4)]
    langfuse.delay_seconds = 0.05

    result = forwarder.forward(versions, [])

    assert (result.sent, langfuse.max_in_flight) == (4, 1)
    assert langfuse.scores[quality.id]["value"] == 0.4


def test_two_server_errors_then_success_store_the_score_once(langfuse, forwarder, run) -> None:
    """503, 503, then 200: the score is retried and stored exactly once."""
    quality = _scores(run)["quality"]
    langfuse.fail_next(2, 503)

    result = forwarder.forward([quality], [])

    assert (result.sent, result.failed) == (1, 0)
    assert [r.status for r in langfuse.requests_to("POST", SCORES_PATH)] == [503, 503, 200]
    assert list(langfuse.scores) == [quality.id]


def test_a_lost_answer_retried_does_not_duplicate_the_score(langfuse, forwarder, run) -> None:
    """When Langfuse stored the score but the answer was a 502, the retry updates the same score."""
    quality = _scores(run)["quality"]
    langfuse.fail_next(1, 502, after_handling=True)

    result = forwarder.forward([quality], [])

    assert (result.sent, result.failed) == (1, 0)
    assert len(langfuse.requests_to("POST", SCORES_PATH)) == 2
    assert list(langfuse.scores) == [quality.id]


def test_rate_limiting_is_retried_after_the_servers_retry_after(langfuse, forwarder, run) -> None:
    """A 429 with Retry-After is retried and succeeds."""
    langfuse.fail_next(1, 429, retry_after="0")

    result = forwarder.forward([_scores(run)["quality"]], [])

    assert (result.sent, result.failed) == (1, 0)
    assert [r.status for r in langfuse.requests_to("POST", SCORES_PATH)] == [429, 200]


def test_wrong_keys_fail_once_without_retrying_or_raising(langfuse, run, caplog) -> None:
    """A 401 is not retried, stops the batch, counts every score as failed and warns once."""
    scores = list(_scores(run).values())

    with LangfuseForwarder(langfuse.url, public_key="pk-lf-1", secret_key="wrong", retry_policy=FAST_RETRIES) as forwarder, caplog.at_level(logging.WARNING, logger="otel_scoring.forward"):
        first = forwarder.forward(scores, [])
        second = forwarder.forward(scores, [])

    assert (first.sent, first.failed, second.failed) == (0, 5, 5)
    assert "HTTP 401" in first.errors[0]
    assert len(langfuse.requests) == 2  # one refused request per call, nothing retried
    assert langfuse.scores == {}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Langfuse" in warnings[0].getMessage()


def test_a_config_id_is_sent_only_when_it_is_a_langfuse_config(langfuse, run) -> None:
    """With send_config_ids, configId is sent, and Langfuse's 404 for an unknown config is not retried."""
    quality = _scores(run)["quality"]
    with LangfuseForwarder(langfuse.url, public_key="pk-lf-1", secret_key="sk-lf-1", send_config_ids=True, retry_policy=FAST_RETRIES) as forwarder:
        unknown = forwarder.forward([quality], [])
        known = forwarder.forward([dataclasses.replace(quality, config_id="cfg-langfuse-1")], [])

    assert (unknown.failed, known.sent) == (1, 1)
    assert "does not match a valid config" in unknown.errors[0]
    assert [r.status for r in langfuse.requests_to("POST")] == [404, 200]
    assert langfuse.scores[quality.id]["configId"] == "cfg-langfuse-1"
    assert "metadata" not in langfuse.scores[quality.id]


def test_keys_and_url_come_from_langfuses_own_environment_variables(langfuse, run, monkeypatch) -> None:
    """build_forwarder("langfuse") reads LANGFUSE_BASE_URL and the two keys, as Langfuse's SDKs do."""
    monkeypatch.setenv(LANGFUSE_BASE_URL, langfuse.url)
    monkeypatch.setenv(LANGFUSE_PUBLIC_KEY, "pk-lf-1")
    monkeypatch.setenv(LANGFUSE_SECRET_KEY, "sk-lf-1")

    result = forward_records([_scores(run)["tone"]], [build_forwarder("langfuse")])[0]

    assert result.sent == 1
    assert [s["value"] for s in langfuse.scores.values()] == ["friendly"]


def test_missing_keys_are_a_clear_error_at_construction(monkeypatch) -> None:
    """Without keys the forwarder cannot work, so building it fails and names the variables."""
    monkeypatch.delenv(LANGFUSE_PUBLIC_KEY, raising=False)
    monkeypatch.delenv(LANGFUSE_SECRET_KEY, raising=False)

    with pytest.raises(ValueError, match="LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY"):
        build_forwarder("langfuse=http://127.0.0.1:1")


def test_metadata_updates_are_skipped_and_counted(langfuse, forwarder, tracer, exporter) -> None:
    """Langfuse's scores API has no place for run metadata: updates are counted as skipped."""
    with tracer.start_as_current_span("agent-run"):
        metadata("memo-1").update({"paymentId": "pi_1"}, kind="billing")
    translation = records_from_spans(exporter.get_finished_spans())

    result = forwarder.forward(translation.scores, translation.metadata)

    assert (result.metadata_skipped, result.metadata_failed, len(langfuse.requests)) == (1, 0, 0)
