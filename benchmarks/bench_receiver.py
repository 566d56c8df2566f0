"""5. Receiver ingest spans/s, fresh inserts, against one stock exporter's send rate; each its own process.

The subject is ``otel-scoring serve`` (its own process, a SQLite store on a temporary file) and a
client process (``_receiver_child.py send``) with CLIENT_THREADS channels sending pre-encoded
512-span requests as fast as the receiver answers them. Every request was made with fresh
trace, span and score ids (128 traces of a root and three steps, each with a span score, a
trace score and a metadata update), so each round inserts rows, as real traffic does, instead of
updating the same ones. The receiver answers an export only once its records are stored, so
what the client sees completed has been ingested: the receiver's ingest rate.

The baseline is one stock ``OTLPSpanExporter`` (gRPC) in its own process (``_receiver_child.py
export``) sending the same kind of spans in 512-span batches, encoding each as it goes, to a
collector sink that keeps nothing (``_null_sink.py``, its own process): the rate at which one
application can send. The ratio says how many such applications one receiver keeps up with
(target ≥ 3×). Wall time, as a throughput is; rounds interleaved (ABBA), median of the per-round
ratios. At the end the store must hold every score sent. The receiver's own CPU per span (from
``/proc``) is printed as the figure to read its floor from.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Tuple

from benchmarks import _workload
from benchmarks._null_sink import NullSink
from benchmarks._receiver_child import TRACES_PER_REQUEST, write_payloads
from benchmarks._timing import Outcome

TARGET = 3.0
CLIENT_THREADS = 4
REPO_ROOT = Path(__file__).resolve().parent.parent
SCORES_PER_REQUEST = TRACES_PER_REQUEST * 2  # a span score and a trace score per trace
CHILD_TIMEOUT_SECONDS = 600


def _serve(db: Path) -> Tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "otel_scoring", "serve", "--grpc-port", "0", "--http-port", "0", "--no-ui", "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO_ROOT,
    )  # fmt: skip
    lines: "queue.Queue[str]" = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()  # type: ignore[union-attr]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            found = re.search(r"receiving OTLP/gRPC on (127\.0\.0\.1:\d+)", lines.get(timeout=1))
        except queue.Empty:
            continue
        if found:
            return process, found.group(1)
    process.kill()
    raise RuntimeError("otel-scoring serve printed no gRPC endpoint within 60 s")


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far, from /proc/<pid>/stat (0 where there is no /proc)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _child(*argv: str) -> Dict:
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks._receiver_child", *argv], cwd=REPO_ROOT, capture_output=True, text=True, timeout=CHILD_TIMEOUT_SECONDS, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"receiver benchmark client {argv[0]} failed ({completed.returncode}): {completed.stderr.strip()[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def run(quick: bool) -> Outcome:
    title = "receiver ingest, fresh inserts (processes) / one exporter's send"
    requests_per_round = CLIENT_THREADS * (1 if quick else 3)
    baseline_requests = 2 if quick else 6
    rounds = 2 if quick else 7
    total_requests = (rounds + 1) * requests_per_round  # a warm-up round first
    with tempfile.TemporaryDirectory(prefix="otel-scoring-bench-") as directory:
        started = time.perf_counter()
        spans = _workload.scored_spans(TRACES_PER_REQUEST * total_requests)  # fresh ids throughout
        payloads = [_workload.otlp_request(batch) for batch in _workload.batches(spans, TRACES_PER_REQUEST * (1 + _workload.CHILDREN))]
        del spans
        payload_file = os.path.join(directory, "requests.bin")
        write_payloads(payload_file, payloads)
        print(f"  made {len(payloads)} requests of fresh scored spans ({len(payloads[0]):,} bytes each) in {time.perf_counter() - started:.0f} s", flush=True)
        db = Path(directory) / "scores.db"
        process, endpoint = _serve(db)
        subject: List[float] = []  # seconds per span
        baseline: List[float] = []
        receiver_cpu = exporter_cpu = 0.0
        received_spans = exported_spans = 0
        try:
            with NullSink() as sink:
                _child("send", endpoint, payload_file, "0", str(requests_per_round), str(CLIENT_THREADS))  # warm-up
                _child("export", sink.endpoint, "1")
                for index in range(rounds):
                    first = str((index + 1) * requests_per_round)
                    for side in ("baseline", "subject") if index % 2 == 0 else ("subject", "baseline"):
                        if side == "subject":
                            cpu_before = _cpu_seconds(process.pid)
                            result = _child("send", endpoint, payload_file, first, str(requests_per_round), str(CLIENT_THREADS))
                            receiver_cpu += _cpu_seconds(process.pid) - cpu_before
                            received_spans += result["spans"]
                            subject.append(result["seconds"] / result["spans"])
                        else:
                            result = _child("export", sink.endpoint, str(baseline_requests))
                            baseline.append(result["seconds"] / result["spans"])
                            exporter_cpu += result["cpu"]
                            exported_spans += result["spans"]
        finally:
            _stop(process)
        with sqlite3.connect(db) as connection:
            stored = connection.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
    expected = total_requests * SCORES_PER_REQUEST
    if stored != expected:
        raise RuntimeError(f"the store holds {stored} scores; {expected} were sent, each new")
    ratios = sorted(b / s for s, b in zip(subject, baseline))  # throughput ratio: receiver spans/s over exporter spans/s
    ratio = statistics.median(ratios)
    print(
        f"  receiver ingest {1 / statistics.median(subject):,.0f} spans/s ({CLIENT_THREADS} client channels, pre-encoded "
        f"{TRACES_PER_REQUEST * (1 + _workload.CHILDREN)}-span requests, fresh ids), one OTLPSpanExporter "
        f"{1 / statistics.median(baseline):,.0f} spans/s to a null sink; ratio {ratio:.2f}x "
        f"(range {ratios[0]:.2f}-{ratios[-1]:.2f}x, {rounds} rounds)"
    )
    if received_spans and receiver_cpu:
        receiving, sending = receiver_cpu / received_spans * 1e6, exporter_cpu / exported_spans * 1e6
        print(
            f"  CPU per span: receiver process {receiving:.0f} us ingesting, exporter process {sending:.0f} us sending: "
            f"{sending / receiving:.2f}x, the ratio when each has a core of its own; {stored:,} scores in the store, every one sent"
        )
    return Outcome(5, title, ratio, "x", f">= {TARGET}x", ratio >= TARGET)
