"""Forwarding from the command line: ``forward`` once, ``serve --forward`` continuously, the receiver's hook.

Langfuse and MLflow are local fakes (tests/support/fakes); the Phoenix test runs a real Phoenix server
(``.ci/phoenix.sh``; skipped without it outside CI, failed without it in CI).
"""

from __future__ import annotations

import base64
import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from typing import Callable, Dict, Iterator, List, Tuple

import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

from support.fakes.langfuse import SCORES_PATH, FakeLangfuse
from support.fakes.mlflow import FakeMLflow
from support.fakes.phoenix_server import PhoenixServer
from otel_scoring import ScoringSpanProcessor, create_score, metadata, score_current_span, score_current_trace
from otel_scoring import cli
from otel_scoring.cli import main
from otel_scoring.environment_variables import LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY
from otel_scoring.forward import ForwardingSink, build_forwarder, mlflow_trace_id
from otel_scoring.receiver import OTLPReceiver
from otel_scoring.records import ScoreRecord
from otel_scoring.schema import SCORE_ID, format_span_id, format_trace_id, metadata_attribute
from otel_scoring.store import ScoreStore
from otel_scoring.translate import Translation, records_from_spans

PROCESS_TIMEOUT_SECONDS = 20
ARRIVAL_TIMEOUT_SECONDS = 20.0
PUBLIC_KEY, SECRET_KEY = "pk-lf-cli", "sk-lf-cli"


@pytest.fixture
def langfuse(monkeypatch) -> Iterator[FakeLangfuse]:
    """A Langfuse whose keys are in the environment, where the forwarder (and a child process) reads them."""
    monkeypatch.setenv(LANGFUSE_PUBLIC_KEY, PUBLIC_KEY)
    monkeypatch.setenv(LANGFUSE_SECRET_KEY, SECRET_KEY)
    with FakeLangfuse(public_key=PUBLIC_KEY, secret_key=SECRET_KEY) as server:
        yield server


@pytest.fixture
def mlflow() -> Iterator[FakeMLflow]:
    with FakeMLflow() as server:
        yield server


@pytest.fixture
def run(tracer, exporter, mlflow) -> Dict[str, object]:
    """One scored run (span, trace and session scores, run metadata), known to MLflow as tr-<trace id>."""
    with tracer.start_as_current_span("agent-run") as root:
        with tracer.start_as_current_span("llm-call") as step:
            score_current_span(name="relevance", value=0.7, comment="mostly on topic")
        score_current_trace(name="resolved", value=True)
        metadata("memo-1").update({"paymentId": "pi_1"}, kind="billing")
    create_score(name="csat", value=4, session_id="session-9")
    trace_id = format_trace_id(root.get_span_context().trace_id)
    mlflow.add_trace(trace_id)
    translation = records_from_spans(exporter.get_finished_spans())
    return {
        "trace_id": trace_id,
        "span_id": format_span_id(step.get_span_context().span_id),
        "spans": exporter.get_finished_spans(),
        "translation": translation,
        "scores": {record.name: record for record in translation.scores},
    }


def _store_of(run: Dict[str, object], path: str) -> str:
    with ScoreStore(path) as store:
        store.add(run["translation"])
    return path


def _otlp_json_file(run: Dict[str, object], path: str) -> str:
    """The run as an OTLP JSON file with hex ids, as OTLP/HTTP and the Collector write it."""
    document = MessageToDict(encode_spans(run["spans"]))
    for resource in document["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    with open(path, "w", encoding="utf-8") as file:
        json.dump(document, file)
    return path


def run_cli(capsys, *argv: str) -> Tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _langfuse_posts(langfuse: FakeLangfuse) -> List[str]:
    """The score id of every score POSTed to Langfuse, in order."""
    return [request.body["id"] for request in langfuse.requests_to("POST", SCORES_PATH)]


def _mlflow_score_ids(mlflow: FakeMLflow, trace_id: str) -> List[str]:
    return sorted(a["metadata"][SCORE_ID] for a in mlflow.assessments(mlflow_trace_id(trace_id)))


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = ARRIVAL_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout}s")
        time.sleep(0.05)


# --- forward ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["store", "otlp-json-file"])
def test_forward_sends_every_score_once_with_its_id_to_langfuse_and_mlflow(source, run, langfuse, mlflow, tmp_path, capsys) -> None:
    """forward --to langfuse=URL --to mlflow=URL sends each score once, under its own id, from a store or a file."""
    scores: Dict[str, ScoreRecord] = run["scores"]
    if source == "store":
        origin = ["--db", _store_of(run, str(tmp_path / "scores.db"))]
    else:
        origin = [_otlp_json_file(run, str(tmp_path / "trace.json"))]

    code, out, err = run_cli(capsys, "forward", "--to", f"langfuse={langfuse.url}", "--to", f"mlflow={mlflow.url}", *origin, "--format", "json")

    assert (code, err) == (0, "")
    results = {line["destination"]: line for line in map(json.loads, out.splitlines())}
    assert [(r["sent"], r["skipped"], r["failed"], r["metadata_sent"], r["metadata_skipped"]) for r in results.values()] == [(3, 0, 0, 0, 1), (2, 1, 0, 1, 0)]
    assert sorted(_langfuse_posts(langfuse)) == sorted(s.id for s in scores.values())
    assert langfuse.scores[scores["relevance"].id]["observationId"] == run["span_id"]
    assert langfuse.scores[scores["csat"].id]["sessionId"] == "session-9"
    assert _mlflow_score_ids(mlflow, run["trace_id"]) == sorted([scores["relevance"].id, scores["resolved"].id])
    tags = mlflow.traces[mlflow_trace_id(run["trace_id"])]["tags"]
    assert tags == {metadata_attribute("billing", "paymentId"): "pi_1"}


def test_forwarding_again_updates_instead_of_adding(run, langfuse, mlflow, tmp_path, capsys) -> None:
    """A second forward of the same store leaves one Langfuse score and one MLflow assessment per score id."""
    db = _store_of(run, str(tmp_path / "scores.db"))
    argv = ("forward", "--to", f"langfuse={langfuse.url}", "--to", f"mlflow={mlflow.url}", "--db", db)

    assert run_cli(capsys, *argv)[0] == 0
    code, out, _ = run_cli(capsys, *argv)

    assert code == 0
    assert "3 score(s) and 1 metadata update(s) to forward" in out
    assert len(langfuse.scores) == 3
    assert len(mlflow.assessments(mlflow_trace_id(run["trace_id"]))) == 2
    assert (len(mlflow.requests_to("POST")), len(mlflow.requests_to("PATCH", "/api/3.0/mlflow/traces/tr-"))) == (2, 4)


def test_forward_takes_the_same_filters_as_scores(run, langfuse, tmp_path, capsys) -> None:
    """--name picks the scores of that name only (and no metadata); --trace of another trace sends nothing."""
    db = _store_of(run, str(tmp_path / "scores.db"))

    code, out, _ = run_cli(capsys, "forward", "--to", f"langfuse={langfuse.url}", "--db", db, "--name", "relevance")
    other_trace = run_cli(capsys, "forward", "--to", f"langfuse={langfuse.url}", "--db", db, "--trace", "0" * 31 + "1")

    assert code == 0 and "1 score(s) and 0 metadata update(s) to forward" in out
    assert _langfuse_posts(langfuse) == [run["scores"]["relevance"].id]
    assert other_trace[0] == 0 and "0 score(s) and 0 metadata update(s)" in other_trace[1]


def test_forward_sends_a_store_larger_than_one_page_completely(run, langfuse, exporter, tmp_path, capsys, monkeypatch) -> None:
    """forward reads the store page by page: every score still arrives exactly once and the counts add up over the pages,
    all over one connection, closed at the end."""
    for visit in range(8):
        create_score(name="csat", value=visit % 5 + 1, session_id=f"session-{visit}")
    translation = records_from_spans(exporter.get_finished_spans())  # the run's three scores and these eight
    db = str(tmp_path / "scores.db")
    with ScoreStore(db) as store:
        store.add(translation)
    monkeypatch.setattr(cli, "PAGE_SIZE", 2)

    code, out, err = run_cli(capsys, "forward", "--to", f"langfuse={langfuse.url}", "--db", db, "--format", "json")

    assert (code, err) == (0, "")
    [result] = map(json.loads, out.splitlines())
    assert (result["sent"], result["failed"], result["metadata_skipped"]) == (11, 0, 1)
    assert sorted(_langfuse_posts(langfuse)) == sorted(score.id for score in translation.scores)
    assert langfuse.connections_accepted == 1  # the six pages went over one kept-alive connection
    assert langfuse.wait_for_open_connections(0) == 0  # and forward closed it when done


def test_forward_exits_1_and_names_the_problem_when_a_destination_refuses(run, langfuse, mlflow, tmp_path, capsys, monkeypatch) -> None:
    """Wrong Langfuse keys: exit 1, the table shows HTTP 401, stderr the error; MLflow still gets its scores."""
    db = _store_of(run, str(tmp_path / "scores.db"))
    monkeypatch.setenv(LANGFUSE_SECRET_KEY, "not-the-secret")

    code, out, err = run_cli(capsys, "forward", "--to", f"langfuse={langfuse.url}", "--to", f"mlflow={mlflow.url}", "--db", db)

    assert code == 1
    langfuse_row = next(line for line in out.splitlines() if line.startswith("langfuse"))
    assert langfuse_row.split()[1:4] == ["0", "0", "3"] and "HTTP 401" in langfuse_row
    assert "Forwarding to Langfuse" in err and "HTTP 401" in err
    assert langfuse.scores == {}
    assert len(mlflow.assessments(mlflow_trace_id(run["trace_id"]))) == 2


def test_forward_stops_before_sending_anything_when_a_file_cannot_be_read(run, langfuse, tmp_path, capsys) -> None:
    """One unreadable file among good ones: exit 1 naming it, and no score is sent."""
    good = _otlp_json_file(run, str(tmp_path / "trace.json"))
    notes = tmp_path / "notes.txt"
    notes.write_text("just some notes", encoding="utf-8")

    code, _, err = run_cli(capsys, "forward", "--to", f"langfuse={langfuse.url}", good, str(notes))

    assert code == 1 and "notes.txt" in err and "nothing was forwarded" in err
    assert langfuse.requests == []


@pytest.mark.parametrize(
    "argv, message",
    [
        (["forward", "--to", "zipkin=http://127.0.0.1:9411"], "unknown forward destination 'zipkin'"),
        (["forward", "--to", "langfuse=http://127.0.0.1:3000"], "LANGFUSE_PUBLIC_KEY"),
        (["forward", "--to", "phoenix=ftp://127.0.0.1:6006"], "http:// or https:// URL"),
        (["serve", "--forward", "zipkin=http://127.0.0.1:9411"], "unknown forward destination 'zipkin'"),
        (["serve", "--forward", "mlflow=databricks"], "http(s) tracking server"),
    ],
)
def test_a_bad_destination_is_a_usage_error(argv, message, tmp_path, capsys, monkeypatch) -> None:
    """An unknown tool, missing credentials or a bad URL exit 2 with the forwarder's message, before anything starts."""
    monkeypatch.delenv(LANGFUSE_PUBLIC_KEY, raising=False)
    monkeypatch.delenv(LANGFUSE_SECRET_KEY, raising=False)

    with pytest.raises(SystemExit) as exited:
        main([*argv, "--db", str(tmp_path / "never.db")])

    assert exited.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "never.db").exists()


# --- The receiver's hook ------------------------------------------------------------------------------


def _scored_spans(tracer, exporter, name: str) -> list:
    """The spans of one request scored ``name``, as the app's exporter would send them."""
    exporter.clear()
    with tracer.start_as_current_span("handle-request"):
        score_current_trace(name=name, value=0.9)
    return list(exporter.get_finished_spans())


def test_a_receiver_passes_stored_batches_on_and_forwards_what_is_queued_when_it_stops(tracer, exporter, langfuse) -> None:
    """OTLPReceiver(on_stored=ForwardingSink) forwards each stored export; stop() waits until what is queued is sent."""
    sink = ForwardingSink([build_forwarder(f"langfuse={langfuse.url}")])
    spans = _scored_spans(tracer, exporter, "quality")
    langfuse.pause()  # Langfuse is slow: the score is still queued when the receiver stops
    with ScoreStore(":memory:") as store:
        with OTLPReceiver(store, grpc_port=0, http_port=0, on_stored=sink) as receiver:
            assert OTLPSpanExporter(endpoint=receiver.traces_url, timeout=10).export(spans) is SpanExportResult.SUCCESS
            stored = receiver.wait_for_scores(1)
            threading.Timer(0.5, langfuse.resume).start()
        assert _langfuse_posts(langfuse) == [stored[0].id]  # no waiting here: stop() forwarded it
    assert [(t.destination, t.sent, t.failed) for t in sink.totals] == [("langfuse", 1, 0)]
    assert sink.submit(Translation(scores=stored)) is False  # the sink stopped with the receiver


def test_a_failing_on_stored_hook_neither_fails_the_export_nor_loses_the_scores(tracer, exporter, caplog) -> None:
    """A hook that raises is logged (with its traceback once); the exporter still succeeds and the scores are stored."""
    calls: List[Translation] = []

    def broken_hook(translation: Translation) -> None:
        calls.append(translation)
        raise RuntimeError("hook is broken")

    batches = [_scored_spans(tracer, exporter, "first"), _scored_spans(tracer, exporter, "second")]
    with ScoreStore(":memory:") as store, OTLPReceiver(store, grpc_port=0, http_port=0, on_stored=broken_hook) as receiver:
        otlp = OTLPSpanExporter(endpoint=receiver.traces_url, timeout=10)
        with caplog.at_level("DEBUG", logger="otel_scoring.receiver"):
            results = [otlp.export(spans) for spans in batches]
        assert sorted(s.name for s in store.scores()) == ["first", "second"]

    assert results == [SpanExportResult.SUCCESS, SpanExportResult.SUCCESS]
    assert [[s.name for s in t.scores] for t in calls] == [["first"], ["second"]]
    assert [r.levelname for r in caplog.records if "on_stored hook failed" in r.getMessage()] == ["ERROR", "DEBUG"]


# --- serve --forward (real processes) -----------------------------------------------------------------


def _lines_of(stream) -> "queue.Queue[str]":
    lines: "queue.Queue[str]" = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _serve(db: str, *forward_specs: str) -> "tuple[subprocess.Popen, Dict[str, str], queue.Queue]":
    """``otel-scoring serve --forward ...`` on free ports; its endpoints once it printed them."""
    argv = [sys.executable, "-m", "otel_scoring", "serve", "--grpc-port", "0", "--http-port", "0", "--db", db]
    for spec in forward_specs:
        argv += ["--forward", spec]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = _lines_of(process.stdout)
    endpoints: Dict[str, str] = {}
    try:
        while len(endpoints) < 2:
            found = re.search(r"receiving OTLP/(gRPC|HTTP) on (\S+)", lines.get(timeout=PROCESS_TIMEOUT_SECONDS))
            if found:
                endpoints[found.group(1)] = found.group(2)
    except queue.Empty:
        process.kill()
        process.wait(timeout=PROCESS_TIMEOUT_SECONDS)
        pytest.fail(f"serve printed no ports; stderr: {process.stderr.read()}")
    return process, endpoints, lines


def _stop(process: subprocess.Popen, lines: "queue.Queue[str]") -> Tuple[int, List[str], str]:
    """SIGTERM, then (exit code, every stdout line left, stderr)."""
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=PROCESS_TIMEOUT_SECONDS + 30)  # forwarding may take its shutdown timeout
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=PROCESS_TIMEOUT_SECONDS)
    time.sleep(0.1)  # let the pump thread read the last lines
    printed: List[str] = []
    while not lines.empty():
        printed.append(lines.get_nowait())
    stderr = process.stderr.read()
    process.stdout.close()
    process.stderr.close()
    return code, printed, stderr


@pytest.mark.slow
def test_serve_forwards_what_the_stock_exporter_sends_to_langfuse(tmp_path, provider, tracer, langfuse) -> None:
    """serve --forward langfuse=URL stores each export and sends its scores to Langfuse; on SIGTERM it prints the totals."""
    db = str(tmp_path / "served.db")
    process, endpoints, lines = _serve(db, f"langfuse={langfuse.url}")
    try:
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoints["HTTP"], timeout=10)))
        with tracer.start_as_current_span("agent-run") as root:
            with tracer.start_as_current_span("llm-call") as step:
                score_current_span(name="relevance", value=0.7)
            score_current_trace(name="resolved", value=True)
        _wait_for(lambda: len(langfuse.scores) == 2, "both scores reaching Langfuse")
    finally:
        code, printed, stderr = _stop(process, lines)

    with ScoreStore(db) as store:
        stored = {s.name: s for s in store.scores()}
    assert code == 0, stderr
    assert sorted(_langfuse_posts(langfuse)) == sorted(s.id for s in stored.values())
    assert langfuse.scores[stored["relevance"].id]["observationId"] == format_span_id(step.get_span_context().span_id)
    assert langfuse.scores[stored["resolved"].id]["traceId"] == format_trace_id(root.get_span_context().trace_id)
    assert f"otel-scoring: forwarding stored scores to langfuse at {langfuse.url}\n" in printed
    assert any(line.startswith("otel-scoring: forwarded to langfuse: 2 score(s) sent, 0 skipped, 0 failed") for line in printed), printed
    assert "Traceback" not in stderr


# --- serve --forward phoenix=URL against a real Phoenix -----------------------------------------------


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PhoenixServer]:
    with PhoenixServer(tmp_path_factory.mktemp("phoenix")) as server:
        yield server


@pytest.mark.slow
@pytest.mark.phoenix
def test_serve_forwards_scores_to_phoenix_as_annotations_on_the_spans_the_app_sent_there(tmp_path, phoenix) -> None:
    """An app exports to Phoenix and to serve --forward phoenix=URL: the score lands on its span in Phoenix."""
    db = str(tmp_path / "served.db")
    process, endpoints, lines = _serve(db, f"phoenix={phoenix.url}")
    try:
        provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
        provider.add_span_processor(ScoringSpanProcessor(tracer_provider=provider))
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=phoenix.otlp_traces_url, timeout=10)))
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoints["HTTP"], timeout=10)))
        tracer = provider.get_tracer("tests")
        with tracer.start_as_current_span("agent-run") as root:
            with tracer.start_as_current_span(f"llm-call-{uuid.uuid4().hex[:8]}") as step:
                score_current_span(name="model-confidence", value=0.83, comment="calibrated")
            score_current_trace(name="guardrail", value="pass", data_type="CATEGORICAL")
        provider.shutdown()
        span_id = format_span_id(step.get_span_context().span_id)
        trace_id = format_trace_id(root.get_span_context().trace_id)
        # Phoenix attaches annotations that arrived before their span on its next retry (every 10 s).
        _wait_for(lambda: phoenix.annotations("span", [span_id]) and phoenix.annotations("trace", [trace_id]), "the annotations appearing in Phoenix", timeout=90)
    finally:
        code, printed, stderr = _stop(process, lines)

    with ScoreStore(db) as store:
        stored = {s.name: s for s in store.scores()}
    span_annotations = phoenix.annotations("span", [span_id])
    assert [(a["span_id"], a["name"], a["result"]["score"], a["result"]["explanation"], a["identifier"]) for a in span_annotations] == [
        (span_id, "model-confidence", 0.83, "calibrated", stored["model-confidence"].id)
    ]
    assert [(a["name"], a["result"]["label"], a["identifier"]) for a in phoenix.annotations("trace", [trace_id])] == [
        ("guardrail", "pass", stored["guardrail"].id)
    ]
    assert code == 0, stderr
    assert any(line.startswith("otel-scoring: forwarded to phoenix: 2 score(s) sent") for line in printed), printed


def test_forward_from_files_keeps_the_latest_write_of_a_score_and_takes_the_filters(run, langfuse, exporter, tmp_path, capsys) -> None:
    """Two files holding one score id: the newer write is the one sent, once, and --name filters files as it filters a store."""
    first = _otlp_json_file(run, str(tmp_path / "first.json"))
    relevance = run["scores"]["relevance"]
    exporter.clear()
    create_score(name="relevance", value=0.9, score_id=relevance.id, trace_id=relevance.trace_id, observation_id=run["span_id"])
    second = _otlp_json_file({"spans": exporter.get_finished_spans()}, str(tmp_path / "second.json"))

    code, out, _ = run_cli(capsys, "forward", "--to", f"langfuse={langfuse.url}", "--name", "relevance", second, first)

    assert code == 0 and "1 score(s) and 0 metadata update(s) to forward" in out
    [request] = langfuse.requests_to("POST", SCORES_PATH)
    assert (request.body["id"], request.body["value"]) == (relevance.id, 0.9)
