"""Every producer's own library, run in its own venv, exports to a live ``otel-scoring serve`` and to files; each route gives the same, exact records.

The venvs come from ``.ci/producers.sh`` (skipped without them outside CI, failed without them in
CI). Each driver in ``tests/support/producers/`` runs one producer's documented API, sends over OTLP/HTTP
to the receiver, writes the same batches as protobuf and as Collector-style JSON lines, and prints
the ids of what it scored. Braintrust's is Java (its Java SDK is the one that writes
``braintrust.scores``), built by ``.ci/braintrust.sh``; its own exporter sends to a local Braintrust
API (``support.fakes.braintrust``) that relays the spans to the receiver and writes the files.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple
from xml.etree import ElementTree

import pytest

from support.fakes.braintrust import FakeBraintrust
from support.fakes.server_process import in_ci
from otel_scoring.records import ScoreRecord
from otel_scoring.store import ScoreStore
from otel_scoring.translate import records_from_file

pytestmark = [pytest.mark.producers, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[1]
DRIVERS = Path(__file__).resolve().parent / "support" / "producers"
PRODUCERS_DIR = Path(os.environ.get("OTEL_SCORING_PRODUCERS_DIR") or REPO_ROOT / ".ci" / ".producers")
BRAINTRUST_POM = DRIVERS / "braintrust" / "pom.xml"
BRAINTRUST_DIR = Path(os.environ.get("OTEL_SCORING_BRAINTRUST_DIR") or REPO_ROOT / ".ci" / ".braintrust")
TIMEOUT_SECONDS = 120


def _python(venv: str) -> Path:
    python = PRODUCERS_DIR / venv / "bin" / "python"
    if not python.exists():
        _missing(f"the {venv} producer venv is not installed in {PRODUCERS_DIR}: run .ci/producers.sh (or set OTEL_SCORING_PRODUCERS_DIR)")
    return python


def _missing(reason: str) -> None:
    if in_ci():
        pytest.fail(f"CI must run these tests, but {reason}", pytrace=False)
    pytest.skip(reason)


def _braintrust_classpath() -> str:
    """The Java driver and its dependencies, built for the SDK version its pom.xml pins."""
    version = ElementTree.parse(BRAINTRUST_POM).getroot().find("{http://maven.apache.org/POM/4.0.0}properties/{http://maven.apache.org/POM/4.0.0}braintrust.version").text  # type: ignore[union-attr]
    built = BRAINTRUST_DIR / str(version)
    if not (built / "braintrust-driver.jar").exists() or shutil.which("java") is None:
        _missing(f"the Braintrust Java SDK {version} driver is not built in {built} (or java is missing): run .ci/braintrust.sh (or set OTEL_SCORING_BRAINTRUST_DIR)")
    return f"{built / 'braintrust-driver.jar'}{os.pathsep}{built / 'lib' / '*'}"


class Serve:
    """``otel-scoring serve`` on ports 0, its endpoint read from what it prints."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self._process = subprocess.Popen(
            [sys.executable, "-m", "otel_scoring", "serve", "--grpc-port", "0", "--http-port", "0", "--db", str(db)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: "queue.Queue[str]" = queue.Queue()
        self._reader = threading.Thread(target=lambda: [lines.put(line) for line in self._process.stdout], daemon=True)  # type: ignore[union-attr]
        self._reader.start()
        while True:
            line = lines.get(timeout=30)
            found = re.search(r"receiving OTLP/HTTP on (\S+)/v1/traces", line)
            if found:
                self.http_endpoint = found.group(1)
                return

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
        self._reader.join(10)
        self._process.stdout.close()  # type: ignore[union-attr]


@pytest.fixture
def serve(tmp_path) -> Iterator[Serve]:
    server = Serve(tmp_path / "scores.db")
    try:
        yield server
    finally:
        server.stop()


def _run(venv: str, driver: str, serve: Serve, out: Path) -> Tuple[Dict[str, Any], List[ScoreRecord], List[List[ScoreRecord]]]:
    """Run ``driver`` with ``venv``'s python; the facts it printed, the stored records, and each file's records."""
    python = _python(venv)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "PYTHONPATH"))}
    env.update(PYTHONPATH=str(DRIVERS), PYTHONUNBUFFERED="1", OTEL_SDK_DISABLED="false")
    done = subprocess.run([str(python), str(DRIVERS / driver), serve.http_endpoint, str(out)], capture_output=True, text=True, timeout=TIMEOUT_SECONDS, env=env, cwd=out.parent)
    assert done.returncode == 0, done.stderr[-4000:]
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    stored, from_files = _read_back(serve, out)
    return facts, stored, from_files


def _read_back(serve: Serve, out: Path) -> Tuple[List[ScoreRecord], List[List[ScoreRecord]]]:
    """The records the receiver stored, and each file's (the numbered protobuf files as one)."""
    serve.stop()  # every export answered before the driver exited; stopping flushes nothing more
    with ScoreStore(serve.db) as store:
        stored = store.scores()
    files = sorted(out.glob("*.jsonl")) + [sorted(out.glob("spans-*.bin")), sorted(out.glob("logs-*.bin"))]
    from_files: List[List[ScoreRecord]] = []
    for item in files:
        paths = item if isinstance(item, list) else [item]
        if paths:
            records: Dict[str, ScoreRecord] = {}
            for path in paths:
                records.update((record.id, record) for record in records_from_file(path).scores)
            from_files.append(sorted(records.values(), key=lambda record: (record.timestamp, record.id)))
    return stored, from_files


def _same_from_every_route(stored: List[ScoreRecord], from_files: List[List[ScoreRecord]]) -> None:
    """The store and every file give the same records (the store drops nothing; files hold one signal each)."""
    combined: Dict[str, ScoreRecord] = {}
    for records in from_files:
        combined.update((record.id, record) for record in records)
    key = lambda record: record.id  # noqa: E731
    assert sorted(stored, key=key) == sorted(combined.values(), key=key)


def _summary(records: List[ScoreRecord]) -> List[Tuple[Any, ...]]:
    return sorted((r.name, r.value, r.string_value, r.data_type, r.comment, r.scope, r.trace_id, r.observation_id, r.session_id, r.source) for r in records)


def test_opensearch_score_scores_the_parent_span_and_the_trace(serve, tmp_path):
    """OpenSearch's score(): a span score of the span it names and a trace score, not scores of its evaluation spans."""
    facts, stored, files = _run("opensearch", "opensearch_score.py", serve, tmp_path / "out")
    trace_id, span_id = facts["trace_id"], facts["span_id"]
    assert _summary(stored) == [
        ("accuracy", 0.95, "correct", "NUMERIC", "Weather data is correct", "span", trace_id, span_id, None, "GENAI_EVALUATION_SPAN"),
        ("helpfulness", 0.83, "Very helpful", "NUMERIC", None, "trace", trace_id, None, None, "GENAI_EVALUATION_SPAN"),
    ]
    _same_from_every_route(stored, files)


def test_strands_evaluator_spans_score_the_case_span(serve, tmp_path):
    """Strands Evals: the evaluator span's string value is read as a number, as a score of the case span it runs under."""
    _, stored, files = _run("strands", "strands_evaluator.py", serve, tmp_path / "out")
    (score,) = stored
    assert (score.name, score.value, score.comment, score.scope, score.source) == ("ExactMatch", 1.0, "exact match", "span", "GENAI_EVALUATION_SPAN")
    assert score.observation_id is not None and score.trace_id is not None
    spans = [json.loads(line) for line in (tmp_path / "out" / "spans.jsonl").read_text().splitlines()]
    names = {span["spanId"]: span["name"] for request in spans for resource in request["resourceSpans"] for scope in resource["scopeSpans"] for span in scope["spans"]}
    import base64

    by_hex = {base64.b64decode(span_id).hex(): name for span_id, name in names.items()}
    assert by_hex[score.observation_id] == "execute_case greeting"
    _same_from_every_route(stored, files)


def test_logfire_feedback_scores_the_annotated_span(serve, tmp_path):
    """Logfire's record_feedback: a number is a score, a string a label, a boolean an assertion, each of the annotated span."""
    facts, stored, files = _run("pydantic-evals", "logfire_feedback.py", serve, tmp_path / "out")
    trace_id, span_id = facts["trace_id"], facts["span_id"]
    assert _summary(stored) == [
        ("factuality", 0.1, None, "NUMERIC", "the capital is wrong", "span", trace_id, span_id, None, "LOGFIRE"),
        ("safe", 1.0, "true", "BOOLEAN", None, "span", trace_id, span_id, None, "LOGFIRE"),
        ("tone", None, "friendly", "CATEGORICAL", None, "span", trace_id, span_id, None, "LOGFIRE"),
    ]
    assert {score.service_name for score in stored} == {"logfire-app"}
    _same_from_every_route(stored, files)


def test_pydantic_evals_online_evaluation_events_are_read_from_logs(serve, tmp_path):
    """pydantic-evals online evaluate: its log-based events score the evaluated call's span (number, boolean with reason, label)."""
    _, stored, files = _run("pydantic-evals", "pydantic_evals_online.py", serve, tmp_path / "out")
    assert _summary(stored) == [
        ("Length", 5.0, None, "NUMERIC", None, "span", stored[0].trace_id, stored[0].observation_id, None, "GENAI_EVENT"),
        ("Mood", None, "cheerful", "CATEGORICAL", None, "span", stored[0].trace_id, stored[0].observation_id, None, "GENAI_EVENT"),
        ("Shouting", 1.0, "pass", "NUMERIC", "all capitals", "span", stored[0].trace_id, stored[0].observation_id, None, "GENAI_EVENT"),
    ]
    assert len({(score.trace_id, score.observation_id) for score in stored}) == 1 and stored[0].observation_id is not None
    spans = (tmp_path / "out" / "spans.jsonl").read_text()
    assert "shout" in spans  # the evaluated call's span went out too
    _same_from_every_route(stored, files)


def test_pydantic_evals_dataset_case_spans_are_read(serve, tmp_path):
    """pydantic-evals Dataset.evaluate: the case span's scores, labels and assertions, with reasons, as scores of the case span."""
    _, stored, files = _run("pydantic-evals", "pydantic_evals_dataset.py", serve, tmp_path / "out")
    assert [(r.name, r.value, r.string_value, r.data_type, r.comment, r.scope, r.source) for r in sorted(stored, key=lambda r: r.name)] == [
        ("Closeness", 0.5, None, "NUMERIC", "half right", "span", "PYDANTIC_EVALS"),
        ("Matches", 1.0, "true", "BOOLEAN", None, "span", "PYDANTIC_EVALS"),
        ("Verdict", None, "partial", "CATEGORICAL", None, "span", "PYDANTIC_EVALS"),
    ]
    assert {score.span_name for score in stored} == {"case: {case_name}"}  # Logfire names spans by their message template
    _same_from_every_route(stored, files)


def test_openinference_feedback_at_span_trace_and_session_scope(serve, tmp_path):
    """OpenInference indexed annotations and evaluations through arize-phoenix-otel: span, trace and session scores, annotator kind and metadata kept."""
    facts, stored, files = _run("openinference", "openinference_annotations.py", serve, tmp_path / "out")
    trace_id, span_id = facts["trace_id"], facts["span_id"]
    assert _summary(stored) == [
        ("correctness", 0.9, "correct", "NUMERIC", "matches the source", "span", trace_id, span_id, None, "OPENINFERENCE"),
        ("relevance", None, "relevant", "CATEGORICAL", None, "span", trace_id, span_id, None, "OPENINFERENCE"),
        ("satisfaction", 4.0, None, "NUMERIC", None, "session", None, None, "session-7", "OPENINFERENCE"),
        ("task-success", 1.0, None, "NUMERIC", None, "trace", trace_id, None, None, "OPENINFERENCE"),
    ]
    by_name = {score.name: score for score in stored}
    assert by_name["correctness"].metadata == {"annotator_kind": "LLM", "identifier": "judge-run-1", "metadata": {"model": "judge-1"}}
    assert by_name["relevance"].metadata == {"annotator_kind": "HUMAN"}
    _same_from_every_route(stored, files)


def test_braintrust_eval_scores_score_the_eval_span_of_their_case(serve, tmp_path):
    """Braintrust's Java Eval: each scorer's score span holds braintrust.scores; they are scores of the case's eval span, one per name."""
    classpath = _braintrust_classpath()
    out = tmp_path / "out"
    out.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "BRAINTRUST_"))}
    with FakeBraintrust(serve.http_endpoint, out) as api:
        done = subprocess.run(["java", "-cp", classpath, "BraintrustEval", api.url], capture_output=True, text=True, timeout=TIMEOUT_SECONDS, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    assert api.unanswered == [] and [experiment["name"] for experiment in api.experiments] == ["capitals"]
    spans = json.loads(done.stdout.strip().splitlines()[-1])["spans"]
    (case,) = [span for span in spans if span["name"] == "eval"]
    assert sorted(span["parent_span_id"] for span in spans if span["name"] == "score") == [case["span_id"]] * 2
    stored, files = _read_back(serve, out)
    trace_id, span_id = case["trace_id"], case["span_id"]
    assert _summary(stored) == [
        ("brevity", 0.25, None, "NUMERIC", None, "span", trace_id, span_id, None, "BRAINTRUST"),
        ("exact_match", 1.0, None, "NUMERIC", None, "span", trace_id, span_id, None, "BRAINTRUST"),
        ("politeness", 0.0, None, "NUMERIC", None, "span", trace_id, span_id, None, "BRAINTRUST"),
    ]
    assert {(score.service_name, score.metadata) for score in stored} == {("braintrust-app", None)}
    assert len(files) == 2  # the JSON lines and the protobuf requests, both read
    _same_from_every_route(stored, files)
