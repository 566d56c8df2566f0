"""The README's commands and code blocks are true: every snippet runs and records what it says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest

from otel_scoring.receiver import OTLPReceiver
from otel_scoring.store import ScoreStore

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SNIPPET_TIMEOUT_SECONDS = 60

pytestmark = pytest.mark.slow


def blocks(language: str) -> List[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def python_snippets() -> List[Tuple[int, str]]:
    return [(index, code) for index, code in enumerate(blocks("python")) if not code.startswith("def test_")]


@pytest.fixture
def receiver():
    with ScoreStore(":memory:") as store, OTLPReceiver(store, host="127.0.0.1", grpc_port=0, http_port=0) as running:
        yield running


def run_python(code: str, receiver: OTLPReceiver, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    script = tmp_path / "snippet.py"
    script.write_text(code, encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_") or key.startswith("OTEL_SCORING_RAISE")}
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://{receiver.grpc_endpoint}"
    finished = subprocess.run(
        [sys.executable, *args, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=SNIPPET_TIMEOUT_SECONDS
    )
    assert finished.returncode == 0, f"exit {finished.returncode}:\n{finished.stdout}\n{finished.stderr}"
    return finished


def test_the_readme_starts_with_the_demo_and_the_test_command():
    """The first two commands install and run the demo, then install and run the tests."""
    first, second = blocks("bash")[:2]
    assert "otel-scoring demo" in first and "pip install" in first
    assert "pytest" in second and "pip install" in second


def test_ci_runs_the_readme_test_command():
    """`.ci/run` runs exactly the README's test command, so the README never drifts from CI."""
    test_command = blocks("bash")[1].strip()
    assert test_command in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_the_scoring_snippet_records_its_three_scores(receiver, tmp_path):
    """The first snippet's step score, run score and late user feedback all reach the receiver."""
    run_python(python_snippets()[0][1], receiver, tmp_path)
    scores = {record.name: record for record in receiver.wait_for_scores(3, timeout=10)}
    assert scores["model-confidence"].value == 0.83 and scores["model-confidence"].scope == "span"
    assert scores["guardrail-pass"].string_value == "true" and scores["guardrail-pass"].scope == "trace"
    feedback = scores["user-feedback"]
    assert feedback.string_value == "helpful" and feedback.comment == "clicked the thumbs-up"
    assert feedback.trace_id == scores["guardrail-pass"].trace_id


def test_the_metadata_snippet_records_every_update(receiver, tmp_path):
    """The metadata snippet's five updates (one batch of two) reach the receiver with their kinds."""
    run_python(python_snippets()[1][1], receiver, tmp_path)
    updates = receiver.wait_for_metadata(5, timeout=10)
    by_memo = {(u.memo_id, u.index): u for u in updates}
    assert by_memo[("payment", 0)].kind == "billing" and by_memo[("payment", 0)].values == {"invoiceId": "inv_123", "total": 99.99}
    assert by_memo[("step-annotation", 0)].scope == "span" and by_memo[("step-annotation", 0)].values == {"recordsProcessed": 1500}
    assert {by_memo[("update-all-statuses", i)].kind for i in (0, 1)} == {"workflow", "infra"}
    assert by_memo[("record-score", 0)].trace_id == by_memo[("payment", 0)].trace_id


PROVIDER_SNIPPET_MARK = "provider.add_span_processor(ScoreFirstSpanProcessor("


def test_the_existing_provider_snippet_delivers_scores_to_the_collector(receiver, tmp_path):
    """A score made under the provider the snippet builds reaches the collector, on the span it was made in."""
    [setup] = [code for _, code in python_snippets() if PROVIDER_SNIPPET_MARK in code]
    use = (
        "\nimport otel_scoring\n"
        "with provider.get_tracer('app').start_as_current_span('llm-call'):\n"
        "    otel_scoring.score_current_span(name='model-confidence', value=0.83)\n"
        "provider.shutdown()\n"
    )
    run_python(setup + use, receiver, tmp_path)
    [score] = receiver.wait_for_scores(1, timeout=10)
    assert (score.name, score.value, score.scope, score.span_name) == ("model-confidence", 0.83, "span", "llm-call")


def test_a_snippet_no_test_above_checks_still_runs(receiver, tmp_path):
    """A snippet added without a test of its own at least runs; each one here should gain a test saying what it records."""
    for _, code in python_snippets()[2:]:
        if PROVIDER_SNIPPET_MARK not in code:
            run_python(code, receiver, tmp_path)


def test_the_pytest_fixture_snippet_passes(tmp_path):
    """The README's `scoring_capture` test passes as written, against a function that scores."""
    (test_snippet,) = [code for code in blocks("python") if code.startswith("def test_")]
    user_code = (
        "from opentelemetry import trace\nimport otel_scoring\n\n"
        "def summarize_ticket(ticket):\n"
        "    with trace.get_tracer('app').start_as_current_span('summarize'):\n"
        "        otel_scoring.score_current_span(name='model-confidence', value=0.9)\n\n"
    )
    test_file = tmp_path / "test_user_code.py"
    test_file.write_text(user_code + test_snippet, encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_") and not key.startswith("PYTEST_")}
    finished = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=SNIPPET_TIMEOUT_SECONDS,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "1 passed" in finished.stdout
