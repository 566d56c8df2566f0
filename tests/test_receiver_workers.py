"""The receiver with ingest worker processes (``serve --workers N``): each export stored once, over
HTTP and gRPC, into SQLite and PostgreSQL, through workers killed mid-stream, and no worker
outliving its receiver.

The exporters are the SDK's stock OTLP exporters, whose retries of 503 / ``UNAVAILABLE`` are what
a dead worker relies on; the kills are real ``SIGKILL``s of real worker processes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter

import otel_scoring
from otel_scoring.receiver import MAX_INGEST_WORKERS, OTLPReceiver
from otel_scoring.receiver._core import Encoding, Refused
from otel_scoring.receiver._worker_process import lock_path
from otel_scoring.receiver._workers import IngestWorkers
from otel_scoring.store import ScoreStore
from otel_scoring.stores import open_store
from support.delivery_support import scoring_provider, subprocess_env
from support.postgres import postgres_cluster, postgres_url  # noqa: F401  (fixtures)
from support.receiver_support import http_request, scored_request

TIMEOUT_SECONDS = 30.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ScoreStore]:
    with ScoreStore(tmp_path / "scores.db") as opened:
        yield opened


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_gone(pids: List[int], timeout: float) -> List[int]:
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [pid for pid in pids if _alive(pid)]


def _send_scored_spans(exporter: SpanExporter, count: int, prefix: str) -> None:
    """``count`` root spans with a span score and a trace score each, exported one per request."""
    provider = scoring_provider(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("workers-test")
    try:
        for index in range(count):
            with tracer.start_as_current_span(f"{prefix}-{index}"):
                otel_scoring.score_current_span(name="helpful", value=index % 5 / 4, comment=prefix)
                otel_scoring.score_current_trace(name="resolved", value=index % 2 == 0)
    finally:
        provider.shutdown()


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_every_export_is_stored_once_by_the_workers(store: ScoreStore, transport: str) -> None:
    """Stock exporters over HTTP and gRPC to a receiver with two workers: every score stored once,
    by processes other than the receiver's, which end when it stops."""
    with OTLPReceiver(store, grpc_port=0, http_port=0, ingest_workers=2) as receiver:
        workers = receiver.worker_pids
        assert len(workers) == 2 and os.getpid() not in workers
        exporter = HttpSpanExporter(endpoint=receiver.traces_url) if transport == "http" else GrpcSpanExporter(endpoint=receiver.grpc_endpoint, insecure=True)
        _send_scored_spans(exporter, 30, transport)
        scores = receiver.wait_for_scores(60, timeout=TIMEOUT_SECONDS)
    assert len(scores) == 60 and len({score.id for score in scores}) == 60
    assert sorted(score.name for score in scores) == ["helpful"] * 30 + ["resolved"] * 30
    assert all(score.comment == transport for score in scores if score.name == "helpful")
    assert _wait_gone(workers, 5) == []  # stop() ends the workers with the receiver
    assert Path(lock_path(store.path)).is_file()  # the lock beside the database that serialized them


def test_workers_store_every_export_once_into_postgresql(postgres_url: str) -> None:
    """Workers of a PostgreSQL store write side by side, on connections of their own: every score
    stored once. The URL reaches them over their sockets, so no process list shows it."""
    with open_store(postgres_url) as store, OTLPReceiver(store, grpc_port=0, http_port=0, ingest_workers=2) as receiver:
        for pid in receiver.worker_pids:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                assert postgres_url.encode() not in cmdline.read()
        _send_scored_spans(GrpcSpanExporter(endpoint=receiver.grpc_endpoint, insecure=True), 30, "postgresql")
        scores = receiver.wait_for_scores(60, timeout=TIMEOUT_SECONDS)
    assert len(scores) == 60 and len({score.id for score in scores}) == 60


def test_killed_workers_cost_retries_not_scores(store: ScoreStore, caplog: pytest.LogCaptureFixture) -> None:
    """SIGKILL the workers while a stock exporter sends: it retries the 503s and every score is stored once."""
    caplog.set_level(logging.WARNING, logger="otel_scoring")
    sent = 40
    with OTLPReceiver(store, grpc_port=0, http_port=0, ingest_workers=2) as receiver:
        sender = threading.Thread(target=_send_scored_spans, args=(HttpSpanExporter(endpoint=receiver.traces_url, timeout=TIMEOUT_SECONDS), sent, "killed"))
        sender.start()
        killed: List[int] = []
        while len(killed) < 4 and sender.is_alive():
            time.sleep(0.05)
            workers = [pid for pid in receiver.worker_pids if pid not in killed]
            if len(workers) == 2:  # the last one killed has been replaced
                os.kill(workers[len(killed) % 2], signal.SIGKILL)
                killed.append(workers[len(killed) % 2])
        sender.join(TIMEOUT_SECONDS * 2)
        assert not sender.is_alive()
        scores = receiver.wait_for_scores(2 * sent, timeout=TIMEOUT_SECONDS)
        assert len(scores) == 2 * sent and len({score.id for score in scores}) == 2 * sent
        # Every dead worker was replaced: two live workers, none of them one that was killed.
        assert len(receiver.worker_pids) == 2 and not set(receiver.worker_pids) & set(killed)
        assert all(_alive(pid) for pid in receiver.worker_pids)
    assert len(killed) == 4
    deaths = [record.getMessage() for record in caplog.records if "ingest worker" in record.getMessage()]
    assert len(deaths) == 1 and "503 to be retried" in deaths[0]  # once a minute, however many die


def test_a_worker_killed_while_idle_costs_one_retry(store: ScoreStore) -> None:
    """A dead worker is found by the next export, which is answered 503 (retryable); its
    replacement stores the retry, once."""
    body = scored_request("after-a-crash").SerializeToString()
    with OTLPReceiver(store, grpc_port=0, http_port=0, ingest_workers=1) as receiver:
        (worker,) = receiver.worker_pids
        os.kill(worker, signal.SIGKILL)
        assert _wait_gone([worker], 5) == []
        first, headers, _ = http_request(receiver.http_port, body)
        assert first == 503 and store.count_scores() == 0
        retried, _, _ = http_request(receiver.http_port, body)
        again, _, _ = http_request(receiver.http_port, body)  # an exporter's duplicate retry
        assert (retried, again) == (200, 200)
        assert [score.name for score in store.scores()] == ["after-a-crash"]
        (replacement,) = receiver.worker_pids
        assert replacement != worker and _alive(replacement)


def test_a_hung_worker_is_replaced_and_its_export_answered_503(tmp_path: Path) -> None:
    """A worker that stops answering (SIGSTOP here) is killed after the timeout; the export gets
    a retryable 503 and the next one is stored by its replacement."""
    with ScoreStore(tmp_path / "scores.db") as opened:
        workers = IngestWorkers(opened.path, 1, timeout_seconds=1.0)
        workers.start()
        try:
            (hung,) = workers.pids
            os.kill(hung, signal.SIGSTOP)
            body = scored_request("after-a-hang").SerializeToString()
            started = time.monotonic()
            with pytest.raises(Refused) as refused:
                workers.ingest(body, Encoding.PROTOBUF, "traces", "http")
            assert refused.value.status == 503 and time.monotonic() - started < 10
            assert _wait_gone([hung], 5) == []
            assert workers.ingest(body, Encoding.PROTOBUF, "traces", "http").rows == 1
            assert [score.name for score in opened.scores()] == ["after-a-hang"]
        finally:
            workers.close(5)


def test_workers_that_cannot_open_the_store_fail_the_start(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """A worker that dies before it is ready (here: no directory for the store) makes ``start``
    raise ``OSError``, with the worker's own error on stderr, and leaves no process behind."""
    workers = IngestWorkers(str(tmp_path / "missing" / "scores.db"), 2)
    with pytest.raises(OSError, match="an ingest worker did not start"):
        workers.start()
    assert workers.pids == []
    assert "unable to open database file" in capfd.readouterr().err


def test_no_worker_outlives_a_killed_serve(tmp_path: Path) -> None:
    """``serve --workers 2`` SIGKILLed: its workers see their sockets close and exit."""
    with _serve_with_workers(tmp_path) as (serve, _, pids):
        assert len(pids) == 2 and all(_alive(pid) for pid in pids)
        serve.kill()
        serve.wait(10)
    assert _wait_gone(pids, 10) == []


def test_serve_with_workers_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """SIGTERM: ``serve --workers 2`` keeps what it stored, prints no traceback, and its workers exit."""
    with _serve_with_workers(tmp_path) as (serve, traces_url, pids):
        _send_scored_spans(HttpSpanExporter(endpoint=traces_url), 5, "sigterm")
        serve.terminate()
        serve.wait(TIMEOUT_SECONDS)
    assert _wait_gone(pids, 10) == []
    text = (tmp_path / "serve.log").read_text()
    assert "stopped" in text and "Traceback" not in text
    with ScoreStore(tmp_path / "scores.db") as reopened:
        assert reopened.count_scores() == 10


@contextlib.contextmanager
def _serve_with_workers(tmp_path: Path) -> Iterator[Tuple["subprocess.Popen[bytes]", str, List[int]]]:
    """``otel-scoring serve --workers 2`` on ports it picks (0), read back from what it prints:
    the process, its OTLP/HTTP traces URL and its workers' pids. Killed at the end if still running."""
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "otel_scoring", "serve", "--grpc-port", "0", "--http-port", "0", "--no-ui", "--workers", "2", "--db", str(tmp_path / "scores.db")]
    with open(log, "wb") as output:
        serve = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=subprocess_env())
    try:
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while True:
            text = log.read_text()
            url = re.search(r"receiving OTLP/HTTP on (http://127\.0\.0\.1:\d+/v1/traces)", text)
            workers = re.search(r"worker process\(es\): ([\d, ]+)\n", text)
            if url and workers:
                break
            if serve.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"serve printed no endpoint or worker pids (exit code {serve.poll()}): {text}")
            time.sleep(0.05)
        yield serve, url.group(1), [int(pid) for pid in workers.group(1).split(",")]
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait(10)


# --- What workers refuse --------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, MAX_INGEST_WORKERS + 1, True, 1.5])
def test_a_worker_count_out_of_range_is_refused(store: ScoreStore, count: object) -> None:
    with pytest.raises(ValueError, match=f"ingest_workers must be an integer from 1 to {MAX_INGEST_WORKERS}"):
        OTLPReceiver(store, grpc_port=0, http_port=0, ingest_workers=count)  # type: ignore[arg-type]


def test_workers_refuse_a_store_private_to_one_process() -> None:
    with ScoreStore(":memory:") as memory, pytest.raises(ValueError, match="memory"):
        OTLPReceiver(memory, grpc_port=0, http_port=0, ingest_workers=2)


def test_workers_refuse_on_stored(store: ScoreStore) -> None:
    with pytest.raises(ValueError, match="on_stored"):
        OTLPReceiver(store, grpc_port=0, http_port=0, ingest_workers=2, on_stored=lambda translation: None)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--db", ":memory:"], "--workers needs a --db every worker can open"),
        (["--forward", "phoenix=http://127.0.0.1:9"], "--workers cannot be combined with --forward"),
    ],
)
def test_serve_refuses_workers_it_cannot_run(tmp_path: Path, args: List[str], message: str) -> None:
    command = [sys.executable, "-m", "otel_scoring", "serve", "--grpc-port", "0", "--http-port", "0", "--workers", "2", *args]
    if "--db" not in args:
        command += ["--db", str(tmp_path / "scores.db")]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, env=subprocess_env())
    assert completed.returncode == 1
    assert message in completed.stderr


def test_serve_refuses_a_worker_count_out_of_range(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "otel_scoring", "serve", "--db", str(tmp_path / "scores.db"), "--workers", str(MAX_INGEST_WORKERS + 1)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, env=subprocess_env())
    assert completed.returncode == 2
    assert "--workers" in completed.stderr
