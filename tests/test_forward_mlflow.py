"""Forwarding to MLflow: scores become feedback assessments on ``tr-<trace id>``, exactly once.

Most tests run against a local server that answers like MLflow 3's REST API (tests/support/fakes/mlflow.py,
checked against a real server); the last ones run a real ``mlflow server`` installed by
``.ci/mlflow.sh`` (skipped without it outside CI, failed without it in CI).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Dict, Iterator, List

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from support.fakes.mlflow import FakeMLflow
from support.fakes.mlflow_server import MLflowServer
from otel_scoring import ScoreConfig, ScoreConfigRegistry, ScoringSpanProcessor, create_score, metadata, score_current_span, score_current_trace
from otel_scoring.schema import format_timestamp
from otel_scoring.environment_variables import MLFLOW_TRACKING_URI
from otel_scoring.forward import MLflowForwarder, RetryPolicy, build_forwarder, forward_records, mlflow_trace_id
from otel_scoring.records import ScoreRecord
from otel_scoring.schema import SCORE_CONFIG_ID, SCORE_DATA_TYPE, SCORE_ID, format_span_id, format_trace_id, metadata_attribute
from otel_scoring.translate import Translation, records_from_spans

FAST_RETRIES = RetryPolicy(max_attempts=4, initial_backoff_seconds=0.01, max_backoff_seconds=0.05, max_elapsed_seconds=5)


def _configs() -> ScoreConfigRegistry:
    registry = ScoreConfigRegistry()
    registry.add(ScoreConfig(id="relevance-v1", name="relevance", data_type="NUMERIC", min_value=0, max_value=1))
    return registry


@pytest.fixture
def score_configs() -> ScoreConfigRegistry:
    return _configs()


def _scored_run(tracer) -> Dict[str, Any]:
    """A run with span, trace (boolean, categorical), session and dataset-run scores and metadata."""
    with tracer.start_as_current_span("agent-run") as root:
        with tracer.start_as_current_span("llm-call") as step:
            score_current_span(name="relevance", value=0.7, comment="mostly on topic", config_id="relevance-v1")
        score_current_trace(name="resolved", value=True)
        score_current_trace(name="tone", value="friendly", data_type="CATEGORICAL")
        metadata("memo-1").update({"paymentId": "pi_1", "amount": 12.5}, kind="billing")
        metadata("memo-2").span().update({"model": "small"})
    create_score(name="csat", value=4, session_id="session-9")
    create_score(name="suite-accuracy", value=0.9, dataset_run_id="run-7")
    return {
        "trace_id": format_trace_id(root.get_span_context().trace_id),
        "span_id": format_span_id(step.get_span_context().span_id),
    }


@pytest.fixture
def mlflow() -> Iterator[FakeMLflow]:
    with FakeMLflow() as server:
        yield server


@pytest.fixture
def forwarder(mlflow: FakeMLflow) -> Iterator[MLflowForwarder]:
    with MLflowForwarder(mlflow.url, retry_policy=FAST_RETRIES) as forwarder:
        yield forwarder


@pytest.fixture
def run(tracer, exporter: InMemorySpanExporter, mlflow: FakeMLflow) -> Dict[str, Any]:
    ids = _scored_run(tracer)
    mlflow.add_trace(ids["trace_id"])
    translation = records_from_spans(exporter.get_finished_spans())
    return {**ids, "translation": translation, "scores": {r.name: r for r in translation.scores}}


def _by_name(assessments: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    return {a["assessment_name"]: a for a in assessments}


def test_trace_and_span_scores_become_feedback_assessments_on_the_mlflow_trace(mlflow, forwarder, run) -> None:
    """Each score is one assessment on tr-<trace id>, on its span, with its typed value and id."""
    scores: Dict[str, ScoreRecord] = run["scores"]
    translation: Translation = run["translation"]

    result = forwarder.forward(translation.scores, [])

    assert (result.sent, result.skipped, result.failed) == (3, 2, 0)
    assessments = _by_name(mlflow.assessments(mlflow_trace_id(run["trace_id"])))
    relevance = assessments["relevance"]
    assert {k: relevance[k] for k in ("trace_id", "span_id", "feedback", "rationale", "source", "create_time")} == {
        "trace_id": "tr-" + run["trace_id"],
        "span_id": run["span_id"],
        "feedback": {"value": 0.7},
        "rationale": "mostly on topic",
        "source": {"source_type": "CODE", "source_id": "test-service"},
        "create_time": format_timestamp(scores["relevance"].timestamp),
    }
    assert relevance["metadata"] == {SCORE_ID: scores["relevance"].id, SCORE_DATA_TYPE: "NUMERIC", SCORE_CONFIG_ID: "relevance-v1"}
    assert (assessments["resolved"]["feedback"], "span_id" in assessments["resolved"]) == ({"value": True}, False)
    assert assessments["tone"]["feedback"] == {"value": "friendly"}


def test_the_assessment_source_says_who_made_the_score(mlflow, forwarder, run) -> None:
    """Langfuse-style sources map to MLflow's source types: ANNOTATION is HUMAN, EVAL is LLM_JUDGE, API is CODE."""
    relevance: ScoreRecord = run["scores"]["relevance"]
    by_source = {source: dataclasses.replace(relevance, id=f"{relevance.id}-{source}", name=source, source=source) for source in ("ANNOTATION", "EVAL", "API")}

    forwarder.forward(list(by_source.values()), [])

    assessments = _by_name(mlflow.assessments(mlflow_trace_id(run["trace_id"])))
    assert {name: a["source"]["source_type"] for name, a in assessments.items()} == {"ANNOTATION": "HUMAN", "EVAL": "LLM_JUDGE", "API": "CODE"}


def test_re_sending_updates_each_assessment_instead_of_adding_one(mlflow, forwarder, run) -> None:
    """The score id in the assessment's metadata makes a re-send an update (PATCH), not a new assessment."""
    scores: List[ScoreRecord] = run["translation"].scores
    forwarder.forward(scores, [])
    changed = [dataclasses.replace(s, value=0.2, comment="re-judged") if s.name == "relevance" else s for s in scores]

    result = forwarder.forward(changed, [])

    assert result.sent == 3
    assessments = _by_name(mlflow.assessments(mlflow_trace_id(run["trace_id"])))
    assert len(mlflow.assessments(mlflow_trace_id(run["trace_id"]))) == 3
    assert (assessments["relevance"]["feedback"], assessments["relevance"]["rationale"]) == ({"value": 0.2}, "re-judged")
    assert len(mlflow.requests_to("POST")) == 3 and len(mlflow.requests_to("PATCH")) == 3


def test_two_server_errors_then_success_create_the_assessment_once(mlflow, forwarder, run) -> None:
    """503, 503, then 200 on the create: one assessment."""
    relevance = run["scores"]["relevance"]
    mlflow.fail_next(2, 503, method="POST")

    result = forwarder.forward([relevance], [])

    assert (result.sent, result.failed) == (1, 0)
    assert [r.status for r in mlflow.requests_to("POST")] == [503, 503, 200]
    assert [a["assessment_name"] for a in mlflow.assessments(mlflow_trace_id(run["trace_id"]))] == ["relevance"]


def test_a_create_whose_answer_was_lost_is_not_made_twice(mlflow, forwarder, run) -> None:
    """MLflow stored the assessment but answered 503: the retry finds it and updates it."""
    relevance = run["scores"]["relevance"]
    mlflow.fail_next(1, 503, method="POST", after_handling=True)

    result = forwarder.forward([relevance], [])

    assert (result.sent, result.failed) == (1, 0)
    assert (len(mlflow.requests_to("POST")), len(mlflow.requests_to("PATCH"))) == (1, 1)
    assert len(mlflow.assessments(mlflow_trace_id(run["trace_id"]))) == 1


def test_a_trace_mlflow_does_not_have_fails_clearly_without_retrying(forwarder, tracer, exporter, mlflow, caplog) -> None:
    """A 404 for the trace is not retried; the error names the trace; other missing traces do not warn again."""
    _scored_run(tracer)  # never added to the MLflow fake
    first_run = records_from_spans(exporter.get_finished_spans())
    exporter.clear()
    _scored_run(tracer)
    second_run = records_from_spans(exporter.get_finished_spans())

    with caplog.at_level(logging.WARNING, logger="otel_scoring.forward"):
        result = forwarder.forward(first_run.scores, [])
        again = forwarder.forward(second_run.scores, [])

    assert (result.sent, result.skipped, result.failed, again.failed) == (0, 2, 3, 3)
    assert "not found in MLflow" in result.errors[0] and "tr-" in result.errors[0]
    assert result.errors != again.errors  # another trace id, same kind of problem
    assert len(mlflow.requests) == 2  # one look-up per trace, nothing retried
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_run_metadata_becomes_trace_tags_and_span_metadata_is_skipped(mlflow, forwarder, run) -> None:
    """Each value of a run metadata update is a trace tag named like its span attribute."""
    translation: Translation = run["translation"]

    result = forwarder.forward([], translation.metadata)

    assert (result.metadata_sent, result.metadata_skipped, result.metadata_failed) == (1, 1, 0)
    tags = mlflow.traces[mlflow_trace_id(run["trace_id"])]["tags"]
    assert tags == {metadata_attribute("billing", "paymentId"): "pi_1", metadata_attribute("billing", "amount"): "12.5"}


def test_a_bearer_token_is_sent_and_a_wrong_one_fails_once_without_raising(run, caplog) -> None:
    """MLFLOW_TRACKING_TOKEN authenticates; a 401 is not retried, counted and warned about once."""
    scores = run["translation"].scores
    with FakeMLflow(token="t0k3n") as secured:
        secured.add_trace(run["trace_id"])
        [good] = forward_records(scores, [MLflowForwarder(secured.url, token="t0k3n", retry_policy=FAST_RETRIES)])
        with caplog.at_level(logging.WARNING, logger="otel_scoring.forward"):
            [bad] = forward_records(scores, [MLflowForwarder(secured.url, token="wrong", retry_policy=FAST_RETRIES)])

    assert (good.sent, bad.sent, bad.failed) == (3, 0, 3)
    assert "HTTP 401" in bad.errors[0]
    assert [r.status for r in secured.requests].count(401) == 1
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_the_tracking_uri_comes_from_mlflow_tracking_uri(mlflow, run, monkeypatch) -> None:
    """build_forwarder("mlflow") reads MLFLOW_TRACKING_URI, as MLflow's client does."""
    monkeypatch.setenv(MLFLOW_TRACKING_URI, mlflow.url)

    [result] = forward_records([run["scores"]["tone"]], [build_forwarder("mlflow")])

    assert result.sent == 1


def test_a_tracking_uri_that_is_not_a_server_is_refused_at_construction() -> None:
    """A file store or "databricks" cannot take REST writes: building the forwarder says so."""
    with pytest.raises(ValueError, match="http"):
        build_forwarder("mlflow=file:///tmp/mlruns")


# --- A real MLflow server ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MLflowServer]:
    with MLflowServer(tmp_path_factory.mktemp("mlflow")) as server:
        yield server


@pytest.mark.slow
def test_a_real_mlflow_server_gets_each_score_once_on_the_trace_it_ingested_over_otlp(mlflow_server: MLflowServer) -> None:
    """Spans sent to MLflow over OTLP get their scores as assessments and their metadata as tags, once."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(ScoringSpanProcessor(tracer_provider=provider, score_configs=_configs()))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=mlflow_server.otlp_traces_url, headers=mlflow_server.otlp_headers)))
    ids = _scored_run(provider.get_tracer("tests"))
    provider.shutdown()
    translation = records_from_spans(memory.get_finished_spans())
    scores = {r.name: r for r in translation.scores}
    forwarder = build_forwarder(f"mlflow={mlflow_server.url}")

    first, second = forward_records(translation, [forwarder], close=False)[0], forward_records(translation, [forwarder])[0]

    for result in (first, second):
        assert (result.sent, result.skipped, result.failed, result.metadata_sent, result.metadata_skipped) == (3, 2, 0, 1, 1), result
    info = mlflow_server.trace_info(mlflow_trace_id(ids["trace_id"]))
    assessments = _by_name(info["assessments"])
    assert len(info["assessments"]) == 3
    assert {k: assessments["relevance"][k] for k in ("span_id", "feedback", "rationale")} == {
        "span_id": ids["span_id"], "feedback": {"value": 0.7}, "rationale": "mostly on topic",
    }
    assert assessments["relevance"]["metadata"][SCORE_ID] == scores["relevance"].id
    assert (assessments["resolved"]["feedback"], assessments["tone"]["feedback"]) == ({"value": True}, {"value": "friendly"})
    assert info["tags"][metadata_attribute("billing", "paymentId")] == "pi_1"
