"""Every script in examples/ runs as a real process, exports over OTLP, and records what it says.

Each example is started with ``sys.executable`` and only the standard ``OTEL_EXPORTER_OTLP_*``
variables pointing at an embedded OTLP receiver on loopback (port 0); the test then reads the
score and metadata records the receiver stored.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, List

import pytest

from otel_scoring.receiver import OTLPReceiver
from otel_scoring.records import MetadataRecord, ScoreRecord
from otel_scoring.store import ScoreStore

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE_TIMEOUT_SECONDS = 60
RECORD_TIMEOUT_SECONDS = 10

pytestmark = pytest.mark.slow


@pytest.fixture
def receiver():
    with ScoreStore(":memory:") as store, OTLPReceiver(store, host="127.0.0.1", grpc_port=0, http_port=0) as running:
        yield running


def run_example(name: str, receiver: OTLPReceiver, protocol: str = "grpc") -> subprocess.CompletedProcess:
    """Run ``examples/<name>.py`` exporting to ``receiver``; fail with its output if it fails."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_") or key.startswith("OTEL_SCORING_RAISE")}
    env["OTEL_EXPORTER_OTLP_PROTOCOL"] = protocol
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://{receiver.grpc_endpoint}" if protocol == "grpc" else receiver.http_endpoint
    finished = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py")],
        env=env,
        cwd=EXAMPLES.parent,
        capture_output=True,
        text=True,
        timeout=EXAMPLE_TIMEOUT_SECONDS,
    )
    assert finished.returncode == 0, f"{name} exited {finished.returncode}:\n{finished.stdout}\n{finished.stderr}"
    return finished


def scores(receiver: OTLPReceiver, count: int) -> List[ScoreRecord]:
    """Exactly ``count`` scores, oldest first."""
    found = receiver.wait_for_scores(count, timeout=RECORD_TIMEOUT_SECONDS)
    assert len(found) == count, found
    return found


def metadata(receiver: OTLPReceiver, count: int) -> List[MetadataRecord]:
    """Exactly ``count`` metadata updates, oldest first (the receiver has no wait for these)."""
    return _wait_for(receiver.store.metadata, count)


def _wait_for(read: Callable[[], list], count: int) -> list:
    deadline = time.monotonic() + RECORD_TIMEOUT_SECONDS
    found = read()
    while len(found) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        found = read()
    assert len(found) == count, found
    return found


def test_every_example_is_tested():
    """A new script in examples/ without a test here fails the build."""
    tested = {name[len("test_") :] for name in globals() if name.startswith("test_") and name != "test_every_example_is_tested"}
    assert {path.stem for path in EXAMPLES.glob("*.py")} <= tested


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_score_run_guardrail(receiver, protocol):
    """Each ticket run gets "guardrail-pass" on its root span: 1 when the summary passed, 0 when not."""
    finished = run_example("score_run_guardrail", receiver, protocol)

    passed, failed = scores(receiver, 2)
    for record, value in ((passed, 1.0), (failed, 0.0)):
        assert (record.name, record.value, record.data_type, record.scope) == ("guardrail-pass", value, "NUMERIC", "trace")
        assert (record.span_name, record.service_name, record.observation_id) == ("summarize-ticket", "support-bot", None)
    assert passed.trace_id != failed.trace_id
    assert "'passed': True" in finished.stdout and "'passed': False" in finished.stdout
    assert finished.stderr == ""


def test_score_step_confidence(receiver):
    """"model-confidence" is recorded on the "call-model" step, with that step's id."""
    run_example("score_step_confidence", receiver)

    (record,) = scores(receiver, 1)
    assert (record.name, record.value, record.scope, record.span_name) == ("model-confidence", 0.83, "span", "call-model")
    assert record.observation_id is not None and len(record.observation_id) == 16


def test_score_from_outside(receiver):
    """Feedback after the run scores the run and its "generate-summary" step by id."""
    finished = run_example("score_from_outside", receiver)

    feedback, accuracy = scores(receiver, 2)
    assert (feedback.name, feedback.value, feedback.scope, feedback.observation_id) == ("user-feedback", 1.0, "trace", None)
    assert (accuracy.name, accuracy.value, accuracy.scope) == ("accuracy", 0.9, "span")
    assert feedback.trace_id == accuracy.trace_id
    assert f"'run_id': '{feedback.trace_id}'" in finished.stdout
    assert f"'step_id': '{accuracy.observation_id}'" in finished.stdout


def test_deferred_scorer(receiver):
    """Four runs queued and scored later by a thread: one boolean "ticket-resolved" per run."""
    run_example("deferred_scorer", receiver)

    found = scores(receiver, 4)
    assert sorted((r.comment, r.string_value) for r in found) == [
        ("ticket T-1", "true"),
        ("ticket T-2", "true"),
        ("ticket T-3", "false"),
        ("ticket T-4", "true"),
    ]
    assert {(r.name, r.data_type, r.scope) for r in found} == {("ticket-resolved", "BOOLEAN", "trace")}
    assert len({r.trace_id for r in found}) == 4


def test_payment_metadata(receiver):
    """The order run carries company, payment info (once, despite re-execution), billing and analytics."""
    run_example("payment_metadata", receiver)

    found = metadata(receiver, 4)
    by_kind = {(m.kind, tuple(sorted(m.values))): m for m in found}
    assert by_kind[("default", ("company",))].values == {"company": "Acme"}
    payment = by_kind[("default", ("amount", "paymentId", "processor"))]
    assert (payment.memo_id, payment.values) == ("record-payment-info", {"paymentId": "ch_cus_42", "processor": "stripe", "amount": 9999})
    assert by_kind[("billing", ("invoiceId", "total"))].values == {"invoiceId": "inv_123", "total": 99.99}
    assert by_kind[("analytics", ("campaign", "source"))].values == {"source": "organic", "campaign": "spring-2025"}
    assert {(m.scope, m.span_name, m.service_name) for m in found} == {("run", "process-order", "shop")}
    assert len({m.trace_id for m in found}) == 1


def test_metadata_scopes(receiver):
    """run(), step("process-data") and span(span_id) each record on their own target."""
    run_example("metadata_scopes", receiver)

    run_status, step_annotation, span_details = metadata(receiver, 3)
    assert (run_status.memo_id, run_status.scope, run_status.span_name, run_status.values) == ("run-status", "run", "my-function", {"priority": "high"})
    assert (step_annotation.memo_id, step_annotation.scope, step_annotation.values) == ("step-annotation", "span", {"recordsProcessed": 1500})
    assert (span_details.memo_id, span_details.scope, span_details.values) == ("span-details", "span", {"externalCallDuration": 230})
    assert step_annotation.span_id != span_details.span_id
    assert len({m.trace_id for m in (run_status, step_annotation, span_details)}) == 1


def test_metadata_batch(receiver):
    """The batch records three updates once, sharing one memo id, in order."""
    run_example("metadata_batch", receiver)

    found = metadata(receiver, 3)
    assert [(m.memo_id, m.index, m.kind, m.values) for m in found] == [
        ("update-all-statuses", 0, "workflow", {"phase": "started", "initiator": "system"}),
        ("update-all-statuses", 1, "timing", {"estimatedDuration": 30}),
        ("update-all-statuses", 2, "infra", {"region": "us-east-1"}),
    ]


def test_metadata_other_run(receiver):
    """The evaluator's scores and the approval both land on the AI run, not on the evaluator's trace."""
    run_example("metadata_other_run", receiver)

    evaluation, approval = metadata(receiver, 2)
    assert evaluation.memo_id == "record-score"
    assert {"qualityScore": 0.91, "relevanceScore": 0.84}.items() <= evaluation.values.items()
    assert approval.values["approvedBy"] == "admin@example.com"
    assert evaluation.trace_id == approval.trace_id
    assert (evaluation.scope, approval.scope) == ("run", "run")


def test_langfuse_scores(receiver):
    """Numeric, categorical (mapped to its number) and boolean scores pass their configs; the update by id wins."""
    finished = run_example("langfuse_scores", receiver)

    found = {record.name: record for record in scores(receiver, 4)}
    assert (found["accuracy"].value, found["accuracy"].config_id, found["accuracy"].comment) == (0.9, "78545", "Factually correct")
    assert (found["tone"].string_value, found["tone"].value, found["tone"].data_type) == ("friendly", 2.0, "CATEGORICAL")
    assert (found["overall_quality"].value, found["overall_quality"].scope) == (0.95, "trace")
    helpful = found["helpful"]
    assert (helpful.id, helpful.value, helpful.string_value, helpful.config_id) == (f"{helpful.trace_id}-helpful", 1.0, "true", "helpful-v1")
    assert finished.stderr.strip() == "score 'accuracy' not recorded: value 1.7 is above max_value 1 of config '78545'"


def test_sdk_reference(receiver):
    """The reference's four examples: relevance on the generation, overall_quality, accuracy, sentiment."""
    run_example("sdk_reference", receiver)

    found = {record.name: record for record in scores(receiver, 4)}
    relevance, overall, accuracy, sentiment = (found[name] for name in ("relevance", "overall_quality", "accuracy", "sentiment"))
    assert (relevance.value, relevance.scope, relevance.span_name) == (0.85, "span", "answer-query")
    assert (overall.value, overall.scope, overall.span_name) == (0.95, "trace", "process-user-request")
    assert (accuracy.value, accuracy.scope, accuracy.comment) == (0.92, "trace", "High accuracy with minor irrelevant details")
    assert (sentiment.string_value, sentiment.value, sentiment.scope, sentiment.data_type) == ("positive", None, "span", "CATEGORICAL")
    assert sentiment.observation_id == relevance.observation_id
    assert len({r.trace_id for r in found.values()}) == 1
