"""13-15. The store's CLI commands on a large store, as whole processes, against plain SQL doing the same.

A SQLite store is filled through ``ScoreStore.add_records`` (the receiver's write path) with
runs of five scores each and a metadata update per run, spread over 30 days
(``bench_dashboard.fill``); sizes are parameters, the issue's by default. Each subject is the
CLI as a user runs it (``python -m otel_scoring …``, stdout to /dev/null); each baseline is a
``python`` process with only ``sqlite3`` (and ``http.client`` for 15) doing the same work the
plainest way. The ratio is the subject's CPU over the baseline's (user + system of the child,
``os.wait4``), interleaved rounds (ABBA), median; the budget is a ratio stated below. Wall times
are printed beside it (they include the disk's share, which CPU time leaves out).

- 13. ``otel-scoring stats`` (1 h buckets) on STATS_SCORES (1 M) scores, against one ``GROUP BY
  name, bucket`` with ``COUNT``, ``AVG``, ``MIN``, ``MAX``: the CLI also ranks each bucket's values
  for p50 and p90 (a window-function sort of every value) and starts the package. Budget 4×.
- 14. ``otel-scoring prune --older-than`` the middle of the range: half the store (500 k scores,
  their metadata and runs), against the same ``DELETE``s (scores, metadata, runs and their keys
  older than the cutoff) in one transaction. The CLI deletes a few thousand rows per transaction,
  so a receiver writing meanwhile waits for one short transaction, never the whole prune.
  Each round works on a fresh copy of the store (copied off the clock). Budget 2×.
- 15. ``otel-scoring forward --db … --to langfuse=URL`` of FORWARD_SCORES (16 k) scores to a local
  sink answering as Langfuse's scores API does (``_langfuse_sink.py``, in this process), against
  a process that selects the same scores and POSTs the same JSON bodies, one request per score
  over four keep-alive connections, as the forwarder does. The sink must count every score of
  both sides. Budget 1.5×.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

from benchmarks._langfuse_sink import Sink, counts
from benchmarks._timing import Outcome

STATS_SCORES = 1_000_000
FORWARD_SCORES = 16_000
QUICK_STATS_SCORES = 20_000
QUICK_FORWARD_SCORES = 1_000
STATS_BUDGET = 4.0
PRUNE_BUDGET = 2.0
FORWARD_BUDGET = 1.5
REPO_ROOT = Path(__file__).resolve().parent.parent
CHILD_TIMEOUT_SECONDS = 1800
CREDENTIALS = {"LANGFUSE_PUBLIC_KEY": "pk-lf-bench", "LANGFUSE_SECRET_KEY": "sk-lf-bench"}

_STATS_SQL = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1])
bucket = 3600 * 1_000_000
rows = connection.execute(
    "SELECT name, timestamp_us / ?, COUNT(*), AVG(value), MIN(value), MAX(value) FROM scores GROUP BY 1, 2 ORDER BY 1, 2", (bucket,)
).fetchall()
for row in rows:
    print(*row, sep="\\t")
"""

_PRUNE_SQL = """
import sqlite3, sys
cutoff = int(sys.argv[2])
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("PRAGMA synchronous=NORMAL")  # as the store runs it
connection.execute("BEGIN IMMEDIATE")
scores = connection.execute("DELETE FROM scores WHERE timestamp_us < ?", (cutoff,)).rowcount
updates = connection.execute("DELETE FROM metadata WHERE timestamp_us < ?", (cutoff,)).rowcount
connection.execute("DELETE FROM run_keys WHERE trace_key IN (SELECT trace_key FROM runs WHERE last_us < ?)", (cutoff,))
connection.execute("DELETE FROM runs WHERE last_us < ?", (cutoff,))
connection.execute("COMMIT")
print(scores, updates)
"""

_FORWARD_SQL = """
import base64, http.client, json, sqlite3, sys, threading, urllib.parse
url = urllib.parse.urlsplit(sys.argv[2])
auth = "Basic " + base64.b64encode(b"pk-lf-bench:sk-lf-bench").decode()
rows = sqlite3.connect(sys.argv[1]).execute(
    "SELECT id, name, value, string_value, data_type, scope, trace_id, observation_id, session_id, comment FROM scores ORDER BY timestamp_us, id"
).fetchall()
bodies = []
for id_, name, value, label, data_type, scope, trace_id, observation_id, session_id, comment in rows:
    body = {"id": id_, "name": name, "traceId": trace_id}
    if scope == "span":
        body["observationId"] = observation_id
    body["dataType"] = data_type
    body["value"] = label if data_type == "CATEGORICAL" else (int(value) if data_type == "BOOLEAN" else value)
    if comment is not None:
        body["comment"] = comment
    bodies.append(json.dumps(body).encode())
failed = []
def send(share):
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    for body in share:
        connection.request("POST", "/api/public/scores", body, {"Content-Type": "application/json", "Authorization": auth})
        response = connection.getresponse()
        response.read()
        if response.status >= 300:
            failed.append(response.status)
threads = [threading.Thread(target=send, args=(bodies[index::4],)) for index in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(len(bodies), "sent", len(failed), "failed")
sys.exit(1 if failed else 0)
"""


@dataclass
class Sizes:
    """How many scores 13-14 (``stats_scores``; prune deletes half) and 15 (``forward_scores``) use."""

    stats_scores: int = STATS_SCORES
    forward_scores: int = FORWARD_SCORES


def default_sizes(quick: bool) -> Sizes:
    return Sizes(QUICK_STATS_SCORES, QUICK_FORWARD_SCORES) if quick else Sizes()


class Timing(NamedTuple):
    cpu: float  # user + system seconds of the child
    wall: float


def _child(argv: List[str], env: Optional[Dict[str, str]] = None) -> Timing:
    """CPU and wall seconds of a child process; raises when it fails."""
    started = time.perf_counter()
    with open(os.devnull, "wb") as devnull, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(argv, stdout=devnull, stderr=err, cwd=REPO_ROOT, env=env)
        try:
            _, status, usage = _wait4(process, CHILD_TIMEOUT_SECONDS)
        except TimeoutError:
            process.kill()
            process.wait(10)
            raise
        err.seek(0)
        text = err.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{argv[:5]} exited {code}: {text[-2000:]}")
    return Timing(usage.ru_utime + usage.ru_stime, time.perf_counter() - started)


def _wait4(process: subprocess.Popen, timeout: float) -> Tuple[int, int, "resource.struct_rusage"]:
    """``os.wait4`` of the child, bounded in time."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return pid, status, usage
        if time.monotonic() > deadline:
            raise TimeoutError(f"process {process.pid} ran longer than {timeout:.0f} s")
        time.sleep(0.05)


def _interleaved(subject: Callable[[], Timing], baseline: Callable[[], Timing], rounds: int) -> Tuple[List[Timing], List[Timing]]:
    subjects: List[Timing] = []
    baselines: List[Timing] = []
    for index in range(rounds):
        for side in ("baseline", "subject") if index % 2 == 0 else ("subject", "baseline"):
            (baselines if side == "baseline" else subjects).append(baseline() if side == "baseline" else subject())
    return subjects, baselines


def _fill(path: str, scores: int) -> None:
    from benchmarks.bench_dashboard import fill
    from otel_scoring.store import ScoreStore

    with ScoreStore(path) as store:
        fill(store, scores)


def _outcome(number: int, title: str, subjects: List[Timing], baselines: List[Timing], budget: float, what: str) -> Outcome:
    ratios = sorted(s.cpu / b.cpu for s, b in zip(subjects, baselines))
    ratio = statistics.median(ratios)
    print(
        f"  {what}: CLI {statistics.median(s.cpu for s in subjects):.2f} s CPU, plain SQL {statistics.median(b.cpu for b in baselines):.2f} s CPU; "
        f"ratio {ratio:.2f}x (range {ratios[0]:.2f}-{ratios[-1]:.2f}x, {len(ratios)} rounds; budget {budget:g}x); "
        f"wall {statistics.median(s.wall for s in subjects):.1f} s / {statistics.median(b.wall for b in baselines):.1f} s",
        flush=True,
    )
    return Outcome(number, title, ratio, "x", f"<= {budget:g}x", ratio <= budget)


def run(quick: bool, sizes: Optional[Sizes] = None) -> List[Outcome]:
    from benchmarks.bench_dashboard import SPAN_DAYS, START
    from otel_scoring.store import to_microseconds

    sizes = sizes or default_sizes(quick)
    rounds = 2 if quick else 3
    cli = [sys.executable, "-m", "otel_scoring"]
    outcomes: List[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="otel-scoring-bench-cli-") as directory:
        store = os.path.join(directory, "scores.db")
        started = time.perf_counter()
        _fill(store, sizes.stats_scores)
        print(f"  filled a store of {sizes.stats_scores:,} scores ({os.path.getsize(store) / 1e6:.0f} MB) in {time.perf_counter() - started:.0f} s", flush=True)

        subjects, baselines = _interleaved(
            lambda: _child([*cli, "stats", "--db", store, "--bucket", "1h", "--quiet"]),
            lambda: _child([sys.executable, "-c", _STATS_SQL, store]),
            rounds,
        )
        outcomes.append(_outcome(13, f"stats on {sizes.stats_scores:,} scores / plain SQL GROUP BY", subjects, baselines, STATS_BUDGET, "stats"))

        middle = START + timedelta(days=SPAN_DAYS) / 2
        copy = os.path.join(directory, "prune.db")

        def fresh_copy() -> None:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(copy + suffix):
                    os.remove(copy + suffix)
            shutil.copyfile(store, copy)

        def prune_subject() -> Timing:
            fresh_copy()
            return _child([*cli, "prune", "--db", copy, "--older-than", middle.isoformat(), "--quiet"])

        def prune_baseline() -> Timing:
            fresh_copy()
            return _child([sys.executable, "-c", _PRUNE_SQL, copy, str(to_microseconds(middle))])

        subjects, baselines = _interleaved(prune_subject, prune_baseline, 2 if not quick else rounds)
        outcomes.append(_outcome(14, f"prune of {sizes.stats_scores // 2:,} scores / plain SQL DELETE", subjects, baselines, PRUNE_BUDGET, "prune"))

        forward_store = os.path.join(directory, "forward.db")
        _fill(forward_store, sizes.forward_scores)
        with Sink() as sink:
            env = dict(os.environ, **CREDENTIALS)
            expected = sizes.forward_scores

            def forwarded(send: Callable[[], Timing]) -> Callable[[], Timing]:
                def round_() -> Timing:
                    before = counts(sink)[0]
                    timing = send()
                    arrived = counts(sink)[0] - before
                    if arrived != expected:
                        raise RuntimeError(f"the sink received {arrived} of {expected} scores")
                    return timing

                return round_

            subjects, baselines = _interleaved(
                forwarded(lambda: _child([*cli, "forward", "--db", forward_store, "--to", f"langfuse={sink.base_url}", "--quiet"], env)),
                forwarded(lambda: _child([sys.executable, "-c", _FORWARD_SQL, forward_store, sink.base_url])),
                rounds,
            )
        outcomes.append(_outcome(15, f"forward of {sizes.forward_scores:,} scores to Langfuse's API / plain SQL + POSTs", subjects, baselines, FORWARD_BUDGET, "forward"))
    return outcomes
