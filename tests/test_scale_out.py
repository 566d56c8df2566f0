"""Scale-out: a real Collector's load_balancing exporter (routing by trace id) in front of three
`otel-scoring serve` processes writing one PostgreSQL database, all on loopback."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, List

import pytest

import otel_scoring
from otel_scoring.stores import open_store
from support.peers import collector_binary, validate_collector_config
from support.postgres import postgres_cluster, postgres_url  # noqa: F401  (fixtures)
from support.scale_out import LOAD_BALANCING_CONFIG, ScaleOutReceiver, load_balancing_collector

pytestmark = pytest.mark.slow

RECEIVERS = 3
STORE_TIMEOUT_SECONDS = 60.0


@pytest.fixture
def receivers(postgres_url, tmp_path) -> Iterator[List[ScaleOutReceiver]]:
    started = [ScaleOutReceiver(n, postgres_url, tmp_path) for n in range(1, RECEIVERS + 1)]
    try:
        for receiver in started:
            receiver.start()
        yield started
    finally:
        for receiver in started:
            receiver.stop()


@pytest.fixture(autouse=True)
def _export_often(monkeypatch):
    # The app's batch span processor exports every 100 ms, so a stream reaches the receivers as a
    # stream, not as one batch at the end.
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")


def _app(collector, tmp_path: Path):
    provider = otel_scoring.configure(service_name="scale-out", endpoint=f"http://{collector.otlp_grpc_endpoint}", protocol="grpc", spool_dir=tmp_path / "spool", set_global=False)
    return provider, provider.get_tracer("scale-out")


def _send_trace(tracer, number: int, sent: List[str]) -> None:
    """One trace of three spans, each span scored once: three score ids."""
    with tracer.start_as_current_span(f"request-{number}"):
        for step in range(3):
            with tracer.start_as_current_span(f"step-{step}"):
                score_id = f"t{number:04d}-s{step}"
                otel_scoring.score_current_span(name="quality", value=step / 2, score_id=score_id)
                sent.append(score_id)


def _wait_stored(db: str, expected: set, timeout: float = STORE_TIMEOUT_SECONDS) -> List[str]:
    deadline = time.monotonic() + timeout
    with open_store(db) as store:
        while True:
            ids = [s.id for page in store.score_pages() for s in page]
            if expected <= set(ids) or time.monotonic() > deadline:
                return ids
            time.sleep(0.2)


def test_the_load_balancing_config_is_valid_for_the_real_collector():
    """collector-config/collector-loadbalancing.yaml passes the Collector binary's own `validate`."""
    result = validate_collector_config(LOAD_BALANCING_CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_trace_lands_on_one_receiver_the_split_is_even_and_every_score_is_stored_once(receivers, postgres_url, tmp_path):
    """90 traces through the Collector: every trace's scores reach exactly one of the three
    receivers, each receiver gets roughly a third of the traces, and the shared store holds every
    score once."""
    with load_balancing_collector([r.backend for r in receivers], tmp_path) as collector:
        provider, tracer = _app(collector, tmp_path)
        sent: List[str] = []
        try:
            for number in range(90):
                _send_trace(tracer, number, sent)
            provider.force_flush(30_000)
            stored = _wait_stored(postgres_url, set(sent))
        finally:
            provider.shutdown()

    assert sorted(stored) == sorted(sent) and len(sent) == 270  # every score, once
    per_receiver = [r.traces() for r in receivers]
    every_trace = set().union(*per_receiver)
    assert len(every_trace) == 90
    for trace in every_trace:
        assert sum(trace in traces for traces in per_receiver) == 1, f"trace {trace} reached several receivers"
    # A third each is 30; a hash split of 90 traces stays well within 15..45 (over 3 standard deviations).
    assert all(15 <= len(traces) <= 45 for traces in per_receiver), [len(t) for t in per_receiver]
    scores_by_receiver = [{s for line in r.records() for s in line["scores"]} for r in receivers]
    assert sum(len(s) for s in scores_by_receiver) == 270  # no score was stored by two receivers


def test_a_receiver_stopped_mid_stream_and_restarted_loses_no_score(receivers, postgres_url, tmp_path):
    """One receiver stopped for seconds while traces keep coming: the Collector holds its traces in
    that receiver's queue and retries; after the restart the store has every score exactly once."""
    down = receivers[1]
    with load_balancing_collector([r.backend for r in receivers], tmp_path) as collector:
        provider, tracer = _app(collector, tmp_path)
        sent: List[str] = []
        number = 0

        def stream_for(seconds: float) -> None:
            nonlocal number
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                _send_trace(tracer, number, sent)
                number += 1
                time.sleep(0.02)

        try:
            stream_for(1.5)
            down.stop()
            before_down = len(sent)
            stream_for(3.0)
            sent_while_down = set(sent[before_down:])
            down.start()  # the same ports: the Collector's backend list is unchanged
            stream_for(1.5)
            provider.force_flush(30_000)
            stored = _wait_stored(postgres_url, set(sent))
        finally:
            provider.shutdown()

    assert sorted(stored) == sorted(sent)  # every score, once, across the restart
    assert down.traces(life=1), "the stopped receiver had stored nothing before it stopped: not mid-stream"
    # The restarted receiver stored scores sent while it was down: the Collector had queued them for it.
    stored_after_restart = {s for line in down.records(life=2) for s in line["scores"]}
    assert stored_after_restart & sent_while_down, "nothing sent during the outage reached the restarted receiver"
    per_receiver = [r.traces() for r in receivers]
    for trace in set().union(*per_receiver):
        assert sum(trace in traces for traces in per_receiver) == 1, f"trace {trace} reached several receivers"


def test_the_scale_out_benchmark_runs_and_reports_its_ratios(postgres_cluster):
    """`python -m benchmarks.bench_scale_out --quick` completes and prints the 1/2/3-receiver ratios and the per-record cost."""
    collector_binary()  # skip or fail here (as postgres_cluster does for PostgreSQL), not in the subprocess
    completed = subprocess.run([sys.executable, "-m", "benchmarks.bench_scale_out", "--quick"], cwd=LOAD_BALANCING_CONFIG.parents[1], capture_output=True, text=True, timeout=400)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    for receivers in (1, 2, 3):
        assert f"{receivers} receiver(s): " in completed.stdout and "x one receiver" in completed.stdout
    assert "PostgreSQL" in completed.stdout and "SQLite" in completed.stdout and "x (best rounds" in completed.stdout
