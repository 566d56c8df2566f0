"""The otel-scoring command: scores, stats and translate in-process; serve and scores as real processes."""

from __future__ import annotations

import base64
import dataclasses
import csv
import io
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from typing import Dict, List

import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import otel_scoring
from otel_scoring import cli
from otel_scoring.cli import main, parse_duration, parse_since
from otel_scoring.environment_variables import OTEL_SCORING_DB
from otel_scoring.store import ScoreStore
from otel_scoring.translate import Translation, records_from_file
from support.record_builders import TRACE_B, score, update

PROCESS_TIMEOUT_SECONDS = 20
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def scores_before(now: datetime) -> list:
    """Three scores dated relative to ``now``: the --since filters compare them with the clock."""
    return [
        score("s-old", "helpfulness", 0.25, at=now - timedelta(hours=3), comment="first, try"),
        score("s-new", "helpfulness", 0.75, at=now - timedelta(minutes=10), trace_id=TRACE_B, metadata={"grader": "gpt"}),
        score("s-tone", "tone", 1.0, at=now - timedelta(minutes=5), string_value="friendly", data_type="CATEGORICAL", session_id="chat-7"),
    ]


@pytest.fixture
def stored() -> list:
    """The scores in ``db``, dated when the test starts (not when the module was imported, which
    under a long run can be minutes earlier and move a score across a --since boundary)."""
    return scores_before(datetime.now(timezone.utc).replace(microsecond=0))


@pytest.fixture
def db(tmp_path, stored) -> str:
    path = str(tmp_path / "scores.db")
    with ScoreStore(path) as store:
        store.add(Translation(scores=stored))
    return path


def run_cli(capsys, *argv: str):
    """main(argv) in this process: (exit code, stdout, stderr)."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- metadata -----------------------------------------------------------------------------------------

def updates_before(now: datetime) -> list:
    """The stored updates, dated relative to ``now`` (each test's start), so --since holds however long the run."""
    return [
        dataclasses.replace(update("record-payment-info", values={"paymentId": "pi_1", "amount": 99.99}), timestamp=now - timedelta(hours=2)),
        dataclasses.replace(update("llm-usage", values={"tokens": 12}), kind="llm", timestamp=now - timedelta(minutes=20)),
        dataclasses.replace(update("llm-usage", trace_id=TRACE_B, values={"tokens": 30}), kind="llm", scope="span", span_id="00f067aa0ba902b7", timestamp=now - timedelta(minutes=5)),
    ]


UPDATES = updates_before(NOW)  # what the records look like: the same fields at any time


@pytest.fixture
def metadata_db(tmp_path) -> str:
    path = str(tmp_path / "metadata.db")
    with ScoreStore(path) as store:
        store.add_records(metadata=updates_before(datetime.now(timezone.utc).replace(microsecond=0)))
    return path


def test_metadata_prints_a_table_oldest_first(metadata_db, capsys):
    """`otel-scoring metadata` lists every stored update with memo id, kind, scope and values, oldest first."""
    code, out, _ = run_cli(capsys, "metadata", "--db", metadata_db)
    assert code == 0
    header, rule, *rows = out.strip().splitlines()
    assert header.split()[:4] == ["time", "memo", "id", "kind"]
    assert [row.split()[1] for row in rows] == ["record-payment-info/0", "llm-usage/0", "llm-usage/0"]
    assert '{"paymentId":"pi_1","amount":99.99}' in rows[0] and "00f067aa0ba902b7" in rows[2]


@pytest.mark.parametrize(
    "filters, expected",
    [
        (["--kind", "llm"], [12, 30]),
        (["--trace", TRACE_B], [30]),
        (["--since", "30m"], [12, 30]),
        (["--kind", "llm", "--since", "10m"], [30]),
    ],
)
def test_metadata_filters(metadata_db, capsys, filters, expected):
    """--trace, --kind and --since narrow the updates printed, together as well as alone."""
    code, out, _ = run_cli(capsys, "metadata", "--db", metadata_db, "--format", "json", *filters)
    assert code == 0
    assert [json.loads(line)["values"].get("tokens") for line in out.strip().splitlines()] == expected


def test_metadata_as_json_and_csv_are_the_records(metadata_db, capsys):
    """JSON lines are each record's to_dict(); CSV has one header and one row per update, values as JSON."""
    _, out, _ = run_cli(capsys, "metadata", "--db", metadata_db, "--format", "json")
    assert [{k: v for k, v in json.loads(line).items() if k != "timestamp"} for line in out.strip().splitlines()] == [
        {k: v for k, v in u.to_dict().items() if k != "timestamp"} for u in UPDATES
    ]
    _, out, _ = run_cli(capsys, "metadata", "--db", metadata_db, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["memo_id"], r["kind"], json.loads(r["values"])) for r in rows] == [(u.memo_id, u.kind, dict(u.values)) for u in UPDATES]


def test_metadata_of_an_empty_store_and_a_missing_one(tmp_path, capsys):
    """An empty store says "no metadata"; a missing store is one line on stderr and exit code 1."""
    empty = str(tmp_path / "empty.db")
    ScoreStore(empty).close()
    assert run_cli(capsys, "metadata", "--db", empty)[:2] == (0, "no metadata\n")
    code, _, err = run_cli(capsys, "metadata", "--db", str(tmp_path / "nope.db"))
    assert code == 1 and "no score store at" in err


# --- scores -------------------------------------------------------------------------------------------


def test_scores_prints_a_table_oldest_first(db, capsys):
    """The default table lists every score with its name, value, label and trace, oldest first."""
    code, out, _ = run_cli(capsys, "scores", "--db", db)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["time", "name", "value", "label"]
    assert [line.split()[1] for line in lines[2:]] == ["helpfulness", "helpfulness", "tone"]
    assert "friendly" in lines[4] and TRACE_B in lines[3]


def test_scores_as_json_lines_are_the_records(db, stored, capsys):
    """--format json prints one record per line, exactly each record's to_dict()."""
    code, out, _ = run_cli(capsys, "scores", "--db", db, "--format", "json")
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == [s.to_dict() for s in stored]


def test_scores_as_csv_have_a_header_and_one_row_per_score(db, capsys):
    """--format csv writes the record fields as a header, metadata as JSON, commas quoted."""
    code, out, _ = run_cli(capsys, "scores", "--db", db, "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [row["id"] for row in rows] == ["s-old", "s-new", "s-tone"]
    assert rows[0]["comment"] == "first, try"
    assert json.loads(rows[1]["metadata"]) == {"grader": "gpt"}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (["--name", "tone"], ["s-tone"]),
        (["--trace", TRACE_B], ["s-new"]),
        (["--session", "chat-7"], ["s-tone"]),
        (["--since", "1h"], ["s-new", "s-tone"]),
        (["--since", "7m"], ["s-tone"]),
        (["--since", "an hour ago as an ISO time"], ["s-new", "s-tone"]),
        (["--name", "helpfulness", "--since", "2h"], ["s-new"]),
        (["--limit", "1"], ["s-old"]),
    ],
)
def test_scores_filters(db, capsys, filters, expected):
    """--name, --trace, --session, --since (duration or ISO time) and --limit narrow the list."""
    an_hour_ago = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    filters = [an_hour_ago if value == "an hour ago as an ISO time" else value for value in filters]
    code, out, _ = run_cli(capsys, "scores", "--db", db, "--format", "json", *filters)
    assert code == 0
    assert [json.loads(line)["id"] for line in out.splitlines()] == expected


@pytest.mark.parametrize("output", ["json", "csv", "table"])
@pytest.mark.parametrize("limit", [None, "1", "2", "3"])
def test_scores_printed_page_by_page_are_the_same_as_in_one_page(db, capsys, monkeypatch, output, limit):
    """Printing a page at a time (two scores a page here) changes nothing a reader sees: one CSV
    header, every score once and in order, --limit honoured across pages."""
    argv = ["scores", "--db", db, "--format", output, *(["--limit", limit] if limit else [])]
    whole = run_cli(capsys, *argv)
    monkeypatch.setattr(cli, "PAGE_SIZE", 2)

    paged = run_cli(capsys, *argv)

    assert paged == whole
    if output == "csv":
        assert len(paged[1].splitlines()) == 1 + int(limit or 3)


def test_the_store_path_comes_from_the_environment_when_not_given(db, capsys, monkeypatch):
    """Without --db the store is $OTEL_SCORING_DB."""
    monkeypatch.setenv(OTEL_SCORING_DB, db)
    code, out, _ = run_cli(capsys, "scores", "--format", "json")
    assert code == 0 and len(out.splitlines()) == 3


def test_reading_a_store_that_does_not_exist_fails_without_creating_it(tmp_path, capsys):
    """scores on a missing file says so, exits 1 and leaves no empty database behind."""
    missing = tmp_path / "nope.db"
    code, _, err = run_cli(capsys, "scores", "--db", str(missing))
    assert code == 1
    assert "no score store" in err
    assert not missing.exists()


def test_a_file_that_is_not_a_store_is_reported_in_one_line(tmp_path, capsys):
    """Pointing --db at a file that is not SQLite exits 1 with a message, not a traceback."""
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("not sqlite", encoding="utf-8")
    code, _, err = run_cli(capsys, "stats", "--db", str(not_a_db))
    assert code == 1
    assert "cannot open the score store" in err and "Traceback" not in err


def test_a_bad_since_is_a_usage_error(db, capsys):
    """--since that is neither an ISO time nor a duration exits 2 with a message."""
    with pytest.raises(SystemExit) as exited:
        main(["scores", "--db", db, "--since", "yesterday"])
    assert exited.value.code == 2
    assert "yesterday" in capsys.readouterr().err


def test_since_and_bucket_parsing():
    """Durations combine units; ISO times without a zone are UTC; offsets are converted to UTC."""
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("2d") == timedelta(days=2)
    assert parse_since("2026-11-22T10:00:00") == datetime(2026, 11, 22, 10, tzinfo=timezone.utc)
    assert parse_since("2026-11-22T12:00:00+02:00") == datetime(2026, 11, 22, 10, tzinfo=timezone.utc)
    assert parse_since("15m", now=NOW) == NOW - timedelta(minutes=15)


# --- stats --------------------------------------------------------------------------------------------


def test_stats_prints_count_mean_and_percentiles_per_name_and_bucket(tmp_path, capsys):
    """The stats table has one row per name per bucket with count, mean, min, max, p50 and p90."""
    day = datetime(2026, 1, 5, tzinfo=timezone.utc)
    db = str(tmp_path / "stats.db")
    with ScoreStore(db) as store:
        store.add(Translation(scores=[score(f"h{i}", "helpfulness", v, at=day + timedelta(hours=i)) for i, v in enumerate([0.25, 0.75])]))
        store.add(Translation(scores=[score("t", "tone", 1.0, at=day + timedelta(days=1))]))
    code, out, _ = run_cli(capsys, "stats", "--db", db, "--bucket", "1d")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["name", "bucket", "start", "count", "mean", "min", "max", "p50", "p90"]
    assert [line.split() for line in lines[2:]] == [
        ["helpfulness", "2026-01-05T00:00:00.000Z", "2", "0.5", "0.25", "0.75", "0.5", "0.7"],
        ["tone", "2026-01-06T00:00:00.000Z", "1", "1", "1", "1", "1", "1"],
    ]


def test_stats_as_json_filtered_by_name(db, stored, capsys):
    """--format json prints one bucket per line; --name keeps one score name."""
    code, out, _ = run_cli(capsys, "stats", "--db", db, "--name", "tone", "--format", "json")
    assert code == 0
    [row] = [json.loads(line) for line in out.splitlines()]
    assert (row["name"], row["count"], row["mean"]) == ("tone", 1, 1.0)
    assert datetime.fromisoformat(row["bucket_start"]) <= stored[2].timestamp


# --- prune --------------------------------------------------------------------------------------------


def test_prune_deletes_records_older_than_an_age_and_says_how_many(db, capsys):
    """prune --older-than 1h deletes the score from three hours ago and keeps the two recent ones."""
    code, out, err = run_cli(capsys, "prune", "--db", db, "--older-than", "1h")

    assert (code, err) == (0, "")
    assert out.startswith("deleted 1 score(s) and 0 metadata update(s) from before ")
    with ScoreStore(db) as store:
        assert [s.id for s in store.scores()] == ["s-new", "s-tone"]


def test_prune_needs_an_age_and_an_existing_store(tmp_path, capsys):
    """Without --older-than it is a usage error; a missing store is reported, not created."""
    with pytest.raises(SystemExit) as usage:
        main(["prune", "--db", str(tmp_path / "x.db")])
    code, _, err = run_cli(capsys, "prune", "--db", str(tmp_path / "missing.db"), "--older-than", "30d")

    assert usage.value.code == 2
    assert code == 1 and "no score store" in err and not (tmp_path / "missing.db").exists()


# --- translate ----------------------------------------------------------------------------------------


@pytest.fixture
def trace_file(tmp_path, tracer, exporter):
    """An OTLP JSON file (hex ids, as OTLP/HTTP and the Collector write it) of one scored run."""
    with tracer.start_as_current_span("handle-ticket"):
        otel_scoring.score_current_trace(name="guardrail-pass", value=1)
        otel_scoring.metadata("ticket-info").update({"ticketId": "T-1"}, kind="ticket")
    document = MessageToDict(encode_spans(exporter.get_finished_spans()))
    for resource in document["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


def test_translate_prints_records_as_tagged_json_lines(trace_file, capsys):
    """translate FILE prints every score and metadata record, each tagged with its record_type."""
    code, out, _ = run_cli(capsys, "translate", trace_file)
    assert code == 0
    expected = records_from_file(trace_file)
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines == [{"record_type": "score", **s.to_dict()} for s in expected.scores] + [{"record_type": "metadata", **m.to_dict()} for m in expected.metadata]
    assert [line["name"] for line in lines if line["record_type"] == "score"] == ["guardrail-pass"]


def test_translate_as_a_table(trace_file, capsys):
    """--format table shows the scores and the metadata updates of the file."""
    code, out, _ = run_cli(capsys, "translate", trace_file, "--format", "table")
    assert code == 0
    assert "1 score(s)" in out and "guardrail-pass" in out
    assert "1 metadata update(s)" in out and "ticket-info/0" in out


def test_translate_reports_unreadable_files_and_still_translates_the_others(trace_file, tmp_path, capsys):
    """A missing file and a file that is not trace data are named on stderr; exit code 1."""
    not_traces = tmp_path / "notes.txt"
    not_traces.write_text("just some notes", encoding="utf-8")
    code, out, err = run_cli(capsys, "translate", str(tmp_path / "missing.json"), str(not_traces), trace_file)
    assert code == 1
    assert "missing.json" in err and "notes.txt" in err
    assert "guardrail-pass" in out


# --- real processes -----------------------------------------------------------------------------------


def _lines_of(stream) -> "queue.Queue[str]":
    """Lines of a child's stream, read on a daemon thread so the test can wait with a timeout."""
    lines: "queue.Queue[str]" = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _serve(db: str, *options: str) -> "tuple[subprocess.Popen, Dict[str, str], queue.Queue]":
    process = subprocess.Popen(
        [sys.executable, "-m", "otel_scoring", "serve", "--grpc-port", "0", "--http-port", "0", "--db", db, *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = _lines_of(process.stdout)
    endpoints: Dict[str, str] = {}
    try:
        while len(endpoints) < 2:
            line = lines.get(timeout=PROCESS_TIMEOUT_SECONDS)
            found = re.search(r"receiving OTLP/(gRPC|HTTP) on (\S+)", line)
            if found:
                endpoints[found.group(1)] = found.group(2)
    except queue.Empty:
        process.kill()
        process.wait(timeout=PROCESS_TIMEOUT_SECONDS)
        pytest.fail(f"serve printed no ports; stderr: {process.stderr.read()}")
    return process, endpoints, lines


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_receives_over_both_protocols_and_stops_cleanly_on_a_signal(tmp_path, provider, tracer, stop_signal):
    """serve on port 0 prints its ports, stores what the stock exporters send, and exits 0 on a signal."""
    db = str(tmp_path / "served.db")
    process, endpoints, lines = _serve(db)
    try:
        provider.add_span_processor(SimpleSpanProcessor(GrpcSpanExporter(endpoint=endpoints["gRPC"], insecure=True, timeout=10)))
        with tracer.start_as_current_span("over-grpc"):
            otel_scoring.score_current_trace(name="via-grpc", value=1)
        provider.add_span_processor(SimpleSpanProcessor(HttpSpanExporter(endpoint=endpoints["HTTP"], timeout=10)))
        with tracer.start_as_current_span("over-both"):
            otel_scoring.score_current_trace(name="via-http", value=2)
        # The exporters are synchronous: each export was stored before its reply came back.
        with ScoreStore(db) as store:
            assert sorted(s.name for s in store.scores()) == ["via-grpc", "via-http"]
        process.send_signal(stop_signal)
        assert process.wait(timeout=PROCESS_TIMEOUT_SECONDS) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=PROCESS_TIMEOUT_SECONDS)
    remaining: List[str] = []
    while not lines.empty():
        remaining.append(lines.get_nowait())
    assert "otel-scoring: stopped\n" in remaining
    assert "Traceback" not in process.stderr.read()
    process.stdout.close()
    process.stderr.close()


@pytest.mark.slow
def test_serve_with_retain_deletes_what_is_older_and_keeps_the_rest(db):
    """serve --retain 1h deletes the stored score from three hours ago as it starts, keeps the rest, and says so."""
    process, _, lines = _serve(db, "--retain", "1h")
    try:
        line = lines.get(timeout=PROCESS_TIMEOUT_SECONDS)
        while "--retain" not in line:
            line = lines.get(timeout=PROCESS_TIMEOUT_SECONDS)
        assert line.startswith("otel-scoring: deleted 1 score(s) and 0 metadata update(s) older than")
        with ScoreStore(db) as store:
            assert [s.id for s in store.scores()] == ["s-new", "s-tone"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=PROCESS_TIMEOUT_SECONDS) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=PROCESS_TIMEOUT_SECONDS)
        process.stdout.close()
        process.stderr.close()


@pytest.mark.slow
def test_serve_refuses_a_non_loopback_host_without_permission(tmp_path):
    """serve --host 0.0.0.0 exits 1 explaining --allow-non-loopback, and binds nothing."""
    result = subprocess.run(
        [sys.executable, "-m", "otel_scoring", "serve", "--host", "0.0.0.0", "--grpc-port", "0", "--http-port", "0", "--db", str(tmp_path / "x.db")],
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT_SECONDS,
    )
    assert result.returncode == 1
    assert "--allow-non-loopback" in result.stderr
    assert not (tmp_path / "x.db").exists()


@pytest.mark.slow
def test_scores_in_a_real_process(db):
    """python -m otel_scoring scores prints the stored scores as JSON lines and exits 0."""
    result = subprocess.run(
        [sys.executable, "-m", "otel_scoring", "scores", "--db", db, "--format", "json", "--name", "helpfulness"],
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT_SECONDS,
        env={**os.environ, OTEL_SCORING_DB: "/nonexistent/ignored-because---db-wins.db"},
    )
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["s-old", "s-new"]
