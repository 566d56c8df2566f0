"""The score store under concurrent writes, hostile timestamps and read-only files: figures stay
consistent, a score stays updatable and prunable, and a store the user may only read opens."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from support.delivery_support import ReceiverProcess, subprocess_env
from support.receiver_support import http_request, score_event_attributes, scored_request, set_string_attribute
from support.record_builders import score
from support.stock_exporter import command as stock_exporter_command

from otel_scoring import schema
from otel_scoring.receiver import OTLPReceiver
from otel_scoring.store import ScoreStore

ROOT = Path(__file__).resolve().parent.parent


def test_stats_during_heavy_writes_never_fails_and_its_figures_hold_together(tmp_path):
    """While another connection writes scores as fast as it can, stats never raises and every bucket's p50/p90 lie within its min and max; after, stats matches a recomputation."""
    path = tmp_path / "scores.db"
    stop = threading.Event()
    written = [0]

    def write() -> None:
        with ScoreStore(path) as writer:
            base = datetime(2026, 1, 1, tzinfo=timezone.utc)
            while not stop.is_set():
                batch = [score(f"s{written[0] + i}", "quality", float((written[0] + i) % 97), at=base + timedelta(seconds=written[0] + i)) for i in range(50)]
                writer.add_records(batch)
                written[0] += len(batch)

    writer = threading.Thread(target=write)
    writer.start()
    runs = 0
    try:
        with ScoreStore(path) as reader:
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline:
                for row in reader.stats(bucket_seconds=60):
                    assert row["min"] <= row["p50"] <= row["p90"] <= row["max"]
                runs += 1
    finally:
        stop.set()
        writer.join(30)
    assert runs > 3 and written[0] > 0
    with ScoreStore(path) as reader:
        scores = reader.scores()
        rows = reader.stats(bucket_seconds=60)
    assert sum(row["count"] for row in rows) == len(scores) == written[0]
    assert sum(row["mean"] * row["count"] for row in rows) == pytest.approx(sum(score.value for score in scores))


def test_a_score_timestamped_far_in_the_future_is_dropped_so_the_id_stays_updatable(tmp_path):
    """A score dated in year 9999 is dropped by the receiver (and said so); the same score id sent now is stored and can be updated."""
    with ScoreStore(tmp_path / "scores.db") as store, OTLPReceiver(store, grpc_port=0, http_port=0, shutdown_timeout_seconds=2.0) as receiver:
        future = scored_request("quality", 0.1, score_id="fixed-id")
        set_string_attribute(score_event_attributes(future), schema.SCORE_TIMESTAMP, "9999-12-31T00:00:00.000000Z")
        status, _, body = http_request(receiver.http_port, future.SerializeToString())
        assert status == 200
        assert "dropped" in ExportTraceServiceResponse.FromString(body).partial_success.error_message
        assert store.scores() == []
        for value in (0.2, 0.3):
            assert http_request(receiver.http_port, scored_request("quality", value, score_id="fixed-id").SerializeToString())[0] == 200
            time.sleep(0.01)
        (stored,) = store.scores()
        assert stored.value == 0.3


READ_SCRIPT = "import sys; from otel_scoring.store import ScoreStore; s = ScoreStore(sys.argv[1]); print(s.read_only, [r.name for r in s.scores()])"


def test_a_store_the_user_may_only_read_opens_for_reading(tmp_path):
    """A store file and directory the user cannot write still open: its scores are read, read_only says so."""
    directory = Path(tempfile.mkdtemp(prefix="otel-scoring-ro-", dir="/tmp"))
    try:
        path = directory / "scores.db"
        with ScoreStore(path) as store:
            store.add_records([score("one", "readable")])
        if os.geteuid() == 0:
            # root may write anything: read as an unprivileged user, with the system's python
            # (the stdlib and our package are all the store needs).
            python = shutil.which("python3", path="/usr/bin:/bin")
            if python is None:
                pytest.skip("needs /usr/bin/python3 to read the store as an unprivileged user")
            directory.chmod(0o755)
            path.chmod(0o644)
            result = subprocess.run(
                [python, "-c", READ_SCRIPT, str(path)], env={"PYTHONPATH": str(ROOT)}, user=65534, group=65534, extra_groups=[],
                capture_output=True, text=True, timeout=60, cwd="/",
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
            assert result.stdout.strip() == "True ['readable']"
        else:
            path.chmod(stat.S_IRUSR)
            directory.chmod(stat.S_IRUSR | stat.S_IXUSR)
            with ScoreStore(path) as store:
                assert store.read_only and [score.name for score in store.scores()] == ["readable"]
            result = subprocess.run([sys.executable, "-c", READ_SCRIPT, str(path)], capture_output=True, text=True, timeout=60)
            assert result.stdout.strip() == "True ['readable']"
    finally:
        directory.chmod(0o755)
        shutil.rmtree(directory, ignore_errors=True)


def test_stores_opening_one_new_file_at_the_same_moment_all_open(tmp_path):
    """Two writers starting together on a store that does not exist yet (serve and a CLI, or two
    receivers) both open it, instead of one failing with "database is locked" on the switch to WAL."""
    for round_ in range(20):
        path = tmp_path / f"new-{round_}.db"
        start = threading.Barrier(4)
        failures: list = []

        def open_store() -> None:
            start.wait()
            try:
                with ScoreStore(path) as store:
                    store.add_records([score(f"s-{threading.get_ident()}", "opened", 1.0)])
            except Exception as error:  # noqa: BLE001 - the failure is what this test reports
                failures.append(error)

        threads = [threading.Thread(target=open_store) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert failures == []
        with ScoreStore(path) as store:
            assert store.count_scores() == 4


def _percentile(values, fraction: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default), as ``stats`` documents."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def _stats_rows(db: Path) -> list:
    done = subprocess.run(
        [sys.executable, "-m", "otel_scoring", "stats", "--db", str(db), "--bucket", "1m", "--format", "json", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        env=subprocess_env(),
    )
    assert done.returncode == 0, done.stderr  # once: KeyError in _percentile_of_ranks
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_stats_run_again_and_again_beside_a_live_serve_never_fails_and_ends_matching_a_recomputation(tmp_path):
    """otel-scoring serve ingests 3 000 scores from a stock exporter in another process while otel-scoring stats runs over and over as subprocesses: every run exits 0 with p50/p90 within min and max; the last matches a recomputation from the stored scores."""
    db = tmp_path / "scores.db"
    with ReceiverProcess(db, tmp_path / "serve.log") as receiver:
        receiver.start()
        exporter = subprocess.Popen(stock_exporter_command("http", receiver.http_port, 3000, 100, 3), stdout=subprocess.PIPE, text=True, env=subprocess_env())
        try:
            runs = 0
            while True:
                exporting = exporter.poll() is None
                for row in _stats_rows(db) if db.exists() else []:
                    assert row["min"] <= row["p50"] <= row["p90"] <= row["max"]
                runs += 1
                if not exporting:
                    break
            output, _ = exporter.communicate(timeout=180)
        finally:
            if exporter.poll() is None:
                exporter.kill()
                exporter.wait(10)
        assert set(json.loads(output.strip().splitlines()[-1])["results"]) == {"SUCCESS"}
        final = _stats_rows(db)
        receiver.stop()
    assert runs >= 2  # at least one ran while the exporter was still sending
    with ScoreStore(db) as store:
        scores = store.scores()
    assert len(scores) == 3000
    buckets: dict = {}
    for stored in scores:
        start = stored.timestamp.replace(second=0, microsecond=0)
        buckets.setdefault((stored.name, start), []).append(stored.value)
    expected = [
        {"name": name, "count": len(values), "mean": sum(values) / len(values), "min": min(values), "max": max(values), "p50": _percentile(values, 0.5), "p90": _percentile(values, 0.9)}
        for (name, _), values in sorted(buckets.items())
    ]
    assert [{key: row[key] for key in expected[0]} for row in final] == [pytest.approx(row) for row in expected]
