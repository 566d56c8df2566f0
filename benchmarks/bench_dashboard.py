"""Dashboard API on a big store: each page's answer against the plain SQL aggregate it is built on.

``python -m benchmarks.bench_dashboard [--quick] [--scores N]`` fills a SQLite store through
``ScoreStore.add_records`` (the receiver's write path) with N scores (default 1 000 000): runs
of five scores each (numeric, boolean, categorical, 1-5 stars, and a span score), two service
versions one after the other over 30 days, each run with ``prompt`` metadata. Then, for each page,
it times the API function the page calls against the least SQL that answers the same question
(interleaved rounds, median ratio; see _timing.py), and checks it against the budget:

* trends (all names, 1 h buckets): p50/p90 need each bucket's values ranked, so the budget is
  against ``GROUP BY name, bucket`` with ``AVG``: at most ``TRENDS_BUDGET`` times.
* compare (helpfulness by service.version, cohorts found by the API): the cohort values, then
  per cohort its count/mean, labels, and variance with histogram (seven passes over the join),
  against one ``GROUP BY`` of the same join: at most ``COMPARE_BUDGET`` times.
* runs (the newest page, with its scores and the total): against ``COUNT(*)`` of runs plus the
  newest 50: at most ``RUNS_BUDGET`` times.
* overview (names, services, cohort keys): against ``SELECT DISTINCT name``: at most
  ``OVERVIEW_BUDGET`` times.

Exit status 1 when a budget is exceeded. Wall-clock time (the store is SQLite, in this process).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from typing import Callable, Dict, List, Tuple

from benchmarks._timing import compare
from otel_scoring.dashboard import _api
from otel_scoring.records import MetadataRecord, ScoreRecord
from otel_scoring.store import ScoreStore

TRENDS_BUDGET = 8.0
COMPARE_BUDGET = 6.0
RUNS_BUDGET = 4.0
OVERVIEW_BUDGET = 3.0
SCORES_PER_RUN = 5
START = datetime(2026, 11, 1, tzinfo=timezone.utc)
SPAN_DAYS = 30
BATCH_RUNS = 2000


def fill(store: ScoreStore, scores: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    runs = max(2, scores // SCORES_PER_RUN)
    step = timedelta(days=SPAN_DAYS) / runs
    for first in range(0, runs, BATCH_RUNS):
        records: List[ScoreRecord] = []
        updates: List[MetadataRecord] = []
        resources: Dict[str, Tuple[Dict[str, str], bool]] = {}
        for index in range(first, min(runs, first + BATCH_RUNS)):
            trace = f"{index + 1:032x}"
            new = index >= runs // 2
            at = START + step * index
            resources[trace] = ({"service.name": "qa-bot", "service.version": "1.1.0" if new else "1.0.0", "deployment.environment": "prod"}, True)
            helpfulness = min(1.0, max(0.0, rng.gauss(0.78 if new else 0.8, 0.1)))
            for number, (name, value, label, data_type, scope) in enumerate(
                (
                    ("helpfulness", round(helpfulness, 4), None, "NUMERIC", "trace"),
                    ("correct", 1.0 if helpfulness > 0.6 else 0.0, "true" if helpfulness > 0.6 else "false", "BOOLEAN", "trace"),
                    ("tone", None, rng.choice(("friendly", "neutral", "friendly")), "CATEGORICAL", "trace"),
                    ("rating", float(rng.randint(1, 5)), None, "NUMERIC", "trace"),
                    ("retrieval-confidence", round(rng.random(), 3), None, "NUMERIC", "span"),
                )
            ):
                records.append(
                    ScoreRecord(f"{trace}-{number}", name, value, label, data_type, scope, trace, f"{index + 1:016x}" if scope == "span" else None,
                                None, None, "API", None, None, None, at + timedelta(milliseconds=number), "qa-bot", "answer")
                )
            updates.append(MetadataRecord("prompt", 0, "prompt", "run", {"version": "v2" if new else "v1"}, trace, None, at, "qa-bot", "answer"))
        store.add_records(records, updates, resources)


def _timed(call: Callable[[], object]) -> Callable[[], float]:
    def round_() -> float:
        started = time.perf_counter()
        call()
        return time.perf_counter() - started

    return round_


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_dashboard")
    parser.add_argument("--scores", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per page (default 5)")
    parser.add_argument("--quick", action="store_true", help="20 000 scores and few rounds: shows it works; not the numbers to quote")
    args = parser.parse_args(argv)
    scores = 20_000 if args.quick else args.scores
    rounds = 3 if args.quick else max(1, args.rounds)
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as scratch, ScoreStore(os.path.join(scratch, "scores.db")) as store:
        started = time.perf_counter()
        fill(store, scores)
        print(f"filled {store.count_scores()} scores in {time.perf_counter() - started:.1f} s")
        query = store._query  # the plain SQL baselines run on the same connection
        bucket = 3600 * 1_000_000
        cases = {
            "trends": (
                lambda: _api.trends(store, {"bucket": "1h"}),
                lambda: query("SELECT name, timestamp_us / ?, COUNT(*), AVG(value) FROM scores GROUP BY 1, 2", [bucket]),
                TRENDS_BUDGET,
            ),
            "compare": (
                lambda: _api.compare(store, {"name": "helpfulness", "by": "service.version"}),
                lambda: query("SELECT r.resource_id, COUNT(s.value), AVG(s.value) FROM scores s JOIN runs r ON r.trace_key = s.trace_id WHERE s.name = ? GROUP BY 1", ["helpfulness"]),
                COMPARE_BUDGET,
            ),
            "runs": (
                lambda: _api.runs(store, {}),
                lambda: (query("SELECT COUNT(*) FROM runs", []), query("SELECT * FROM runs ORDER BY last_us DESC LIMIT 50", [])),
                RUNS_BUDGET,
            ),
            "overview": (
                lambda: _api.overview(store, {}),
                lambda: query("SELECT DISTINCT name FROM scores", []),
                OVERVIEW_BUDGET,
            ),
        }
        failed = False
        print(f"{'page':<10} {'API (s)':>9} {'SQL (s)':>9} {'ratio':>7} {'budget':>7}")
        for page, (subject, baseline, budget) in cases.items():
            result = compare(_timed(subject), _timed(baseline), rounds=rounds, warmup_rounds=1 if args.quick else 0)
            over = result.ratio > budget
            failed |= over and not args.quick
            print(f"{page:<10} {min(result.subject):>9.3f} {min(result.baseline):>9.3f} {result.ratio:>6.2f}x {budget:>6.1f}x{'  OVER BUDGET' if over else ''}")
        verdict = _api.compare(store, {"name": "helpfulness", "by": "service.version"})
        print(f"compare verdict on the benchmark's store: {verdict['verdict']} (difference {verdict['difference']['estimate']:.4f})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
