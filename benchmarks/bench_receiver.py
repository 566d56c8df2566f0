"""5. Receiver ingest spans/s, fresh inserts, against one stock exporter's send rate; each its own process.

The subjects are ``otel-scoring serve --workers N`` (N the machine's cores, at least 2: the
acceptor and N ingest worker processes) and ``otel-scoring serve`` alone, each on a SQLite store
of its own on a temporary file, and a client process (``_receiver_child.py send``) with CLIENT_THREADS channels sending pre-encoded
512-span requests as fast as the receiver answers them. Every request was made with fresh
trace, span and score ids (128 traces of a root and three steps, each with a span score, a
trace score and a metadata update), so each round inserts rows, as real traffic does, instead of
updating the same ones. The receiver answers an export only once its records are stored, so
what the client sees completed has been ingested: the receiver's ingest rate.

The baseline is one stock ``OTLPSpanExporter`` (gRPC) in its own process (``_receiver_child.py
export``) sending the same kind of spans in 512-span batches, encoding each as it goes, to a
collector sink that keeps nothing (``_null_sink.py``, its own process): the rate at which one
application can send. The ratio says how many such applications one receiver keeps up with
(target ≥ 3× for ``--workers``; one process is reported beside it). Wall time, as a throughput
is; each round runs the three in a rotated order, median of the per-round ratios. At the end each
store must hold every score sent to it. The receiver's CPU per span (from ``/proc``, its workers'
included) is printed as the figure to read its floor from.
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
from typing import Dict, List, Optional, Tuple

from benchmarks import _workload
from benchmarks._null_sink import NullSink
from benchmarks._receiver_child import TRACES_PER_REQUEST, write_payloads
from benchmarks._timing import Outcome
from otel_scoring._receiver_defaults import MAX_INGEST_WORKERS

TARGET = 3.0
CLIENT_THREADS = 4
REPO_ROOT = Path(__file__).resolve().parent.parent
SCORES_PER_REQUEST = TRACES_PER_REQUEST * 2  # a span score and a trace score per trace
CHILD_TIMEOUT_SECONDS = 600


def _serve(db: Path, workers: int = 0) -> Tuple[subprocess.Popen, str, List[int]]:
    """``otel-scoring serve`` on ``db`` (with ``--workers`` when ``workers``): the process, its
    gRPC endpoint and its workers' pids."""
    command = [sys.executable, "-m", "otel_scoring", "serve", "--grpc-port", "0", "--http-port", "0", "--no-ui", "--db", str(db)]
    if workers:
        command += ["--workers", str(workers)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO_ROOT)
    lines: "queue.Queue[str]" = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()  # type: ignore[union-attr]
    deadline = time.monotonic() + 60
    endpoint, pids = "", []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        found = re.search(r"receiving OTLP/gRPC on (127\.0\.0\.1:\d+)", line)
        endpoint = found.group(1) if found else endpoint
        listed = re.search(r"worker process\(es\): ([\d, ]+)", line)
        pids = [int(pid) for pid in listed.group(1).split(",")] if listed else pids
        if endpoint and (pids or not workers):
            return process, endpoint, pids
    process.kill()
    raise RuntimeError("otel-scoring serve printed no gRPC endpoint (or no workers) within 60 s")


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


class _Subject:
    """One receiver under test: its process, its store, and what it ingested in the timed rounds."""

    def __init__(self, directory: str, workers: int) -> None:
        self.workers = workers
        self.db = Path(directory) / f"scores-{workers}.db"
        self.process, self.endpoint, self.worker_pids = _serve(self.db, workers)
        self.seconds_per_span: List[float] = []
        self.cpu = 0.0  # the receiver's CPU in all, its workers' included
        self.acceptor_cpu = 0.0  # of it, the serve process's own
        self.spans = 0

    def send(self, payload_file: str, first: int, count: int, timed: bool = True) -> None:
        pids = [self.process.pid, *self.worker_pids]
        before = [_cpu_seconds(pid) for pid in pids]
        result = _child("send", self.endpoint, payload_file, str(first), str(count), str(CLIENT_THREADS))
        if timed:
            used = [_cpu_seconds(pid) - start for pid, start in zip(pids, before)]
            self.cpu += sum(used)
            self.acceptor_cpu += used[0]
            self.spans += result["spans"]
            self.seconds_per_span.append(result["seconds"] / result["spans"])

    def stored_scores(self) -> int:
        with sqlite3.connect(self.db) as connection:
            return int(connection.execute("SELECT COUNT(*) FROM scores").fetchone()[0])


def run(quick: bool, workers: Optional[int] = None) -> List[Outcome]:
    """Row 5 for ``serve --workers N`` (N the cores, at least 2) and for one ``serve`` process."""
    workers = workers or max(2, min(os.cpu_count() or 2, MAX_INGEST_WORKERS))
    requests_per_round = CLIENT_THREADS * (1 if quick else 3)
    baseline_requests = 2 if quick else 6
    rounds = 2 if quick else 7
    requests_per_subject = (rounds + 1) * requests_per_round  # a warm-up round first
    with tempfile.TemporaryDirectory(prefix="otel-scoring-bench-") as directory:
        started = time.perf_counter()
        spans = _workload.scored_spans(TRACES_PER_REQUEST * 2 * requests_per_subject)  # fresh ids throughout
        payloads = [_workload.otlp_request(batch) for batch in _workload.batches(spans, TRACES_PER_REQUEST * (1 + _workload.CHILDREN))]
        del spans
        payload_file = os.path.join(directory, "requests.bin")
        write_payloads(payload_file, payloads)
        print(f"  made {len(payloads)} requests of fresh scored spans ({len(payloads[0]):,} bytes each) in {time.perf_counter() - started:.0f} s", flush=True)
        subjects: List[_Subject] = []  # serve --workers, then one serve process
        baseline: List[float] = []
        exporter_cpu = 0.0
        exported_spans = 0
        try:
            subjects.append(_Subject(directory, workers))
            subjects.append(_Subject(directory, 0))
            with NullSink() as sink:
                for offset, subject in enumerate(subjects):  # warm-up; each subject has its own half of the requests
                    subject.send(payload_file, offset * requests_per_subject, requests_per_round, timed=False)
                _child("export", sink.endpoint, "1")
                for index in range(rounds):
                    # Each round in a new order (baseline, pool, one process, rotated), so none always goes first.
                    sides = ["baseline", *subjects]
                    for side in sides[index % 3 :] + sides[: index % 3]:
                        if isinstance(side, _Subject):
                            first = subjects.index(side) * requests_per_subject + (index + 1) * requests_per_round
                            side.send(payload_file, first, requests_per_round)
                        else:
                            result = _child("export", sink.endpoint, str(baseline_requests))
                            baseline.append(result["seconds"] / result["spans"])
                            exporter_cpu += result["cpu"]
                            exported_spans += result["spans"]
        finally:
            for subject in subjects:
                _stop(subject.process)
        outcomes = []
        for subject in subjects:
            stored, expected = subject.stored_scores(), requests_per_subject * SCORES_PER_REQUEST
            if stored != expected:
                raise RuntimeError(f"the store of serve {_label(subject)} holds {stored} scores; {expected} were sent, each new")
            outcomes.append(_report(subject, baseline, exporter_cpu / exported_spans, stored))
    return outcomes


def _label(subject: _Subject) -> str:
    return f"--workers {subject.workers}" if subject.workers else "(one process)"


def _report(subject: _Subject, baseline: List[float], exporter_cpu_per_span: float, stored: int) -> Outcome:
    ratios = sorted(b / s for s, b in zip(subject.seconds_per_span, baseline))  # receiver spans/s over exporter spans/s
    ratio = statistics.median(ratios)
    label = _label(subject)
    print(
        f"  serve {label}: {1 / statistics.median(subject.seconds_per_span):,.0f} spans/s ingested ({CLIENT_THREADS} client channels, "
        f"pre-encoded {TRACES_PER_REQUEST * (1 + _workload.CHILDREN)}-span requests, fresh ids), one OTLPSpanExporter "
        f"{1 / statistics.median(baseline):,.0f} spans/s to a null sink; ratio {ratio:.2f}x (range {ratios[0]:.2f}-{ratios[-1]:.2f}x, {len(ratios)} rounds)"
    )
    receiving, sending = subject.cpu / subject.spans * 1e6, exporter_cpu_per_span * 1e6
    split = f" ({subject.acceptor_cpu / subject.spans * 1e6:.0f} in the acceptor, the rest in its workers)" if subject.workers else ""
    print(f"  CPU per span: serve {label} {receiving:.0f} us{split}, the exporter {sending:.0f} us sending; {stored:,} scores in its store, every one sent")
    if subject.workers:
        return Outcome(5, f"receiver ingest, serve --workers {subject.workers} / one exporter's send", ratio, "x", f">= {TARGET}x", ratio >= TARGET)
    return Outcome(5, "receiver ingest, one serve process / one exporter's send", ratio, "x", "report", None)
