"""Run the benchmarks: ``python -m benchmarks [--quick] [--only 1,4] [--stats-scores N] [--forward-scores N]``.

Each benchmark measures its subject and its baseline in this same run, interleaved, and reports
their ratio; the table at the end holds every target, its measured ratio and whether it was met.
``--quick`` runs a few seconds of each, only to show that they work: its numbers are not the ones
to quote. Exit status 1 means a benchmark failed to run, never that a target was missed.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import sys
import time
import traceback
from importlib import metadata
from typing import Callable, Dict, List, Sequence, Union

from benchmarks import bench_cli_store, bench_cli_translate, bench_export_cpu, bench_langfuse, bench_memory, bench_receiver, bench_receiver_attacks, bench_score_call, bench_span_overhead, bench_translator
from benchmarks._timing import Outcome

# A benchmark returns its row, or several rows when one run measures several ratios (11 gives 11 and 12).
Benchmark = Callable[[bool], Union[Outcome, Sequence[Outcome]]]
BENCHMARKS: Dict[int, Benchmark] = {
    1: bench_score_call.run,
    2: bench_span_overhead.run,
    3: bench_export_cpu.run,
    4: bench_translator.run,
    5: bench_receiver.run,
    6: bench_memory.run,
    7: bench_receiver_attacks.run,
    8: bench_cli_translate.run,
    11: bench_langfuse.run_both,
    13: bench_cli_store.run,
}
TITLES = {
    1: "score_current_span vs the SDK floor of the same wire (add_event + set_attributes)",
    2: "spans through configure()'s pipeline: scored vs unscored, and with vs without the scoring processor",
    3: "export CPU per score through configure()'s pipeline, OTLP to a collector sink",
    4: "translator records/s from OTLP protobuf vs bare parse + walk, with and without JSON lines",
    5: "receiver ingest of fresh inserts into SQLite vs one OTLPSpanExporter, processes",
    6: "memory: RSS growth through configure()'s pipeline, ended and never-ended spans",
    7: "receiver memory under attack mixes vs at rest, good exports on",
    8: "otel-scoring translate of a 178 MB Collector export vs a bare reader, processes",
    11: "total CPU per score vs Langfuse v5, in a span (11) and by id (12), processes",
    13: "otel-scoring stats (13), prune (14), forward (15) on a large store vs plain SQL, processes",
}
PACKAGES = ("opentelemetry-sdk", "opentelemetry-proto", "opentelemetry-exporter-otlp-proto-grpc", "protobuf", "grpcio")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe_machine() -> str:
    load = " ".join(f"{value:.2f}" for value in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    versions = ", ".join(f"{package} {_version(package)}" for package in PACKAGES)
    return (
        f"Python {platform.python_version()} ({platform.python_implementation()}) on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} cores, load average {load}\n{versions}"
    )


def _format_value(outcome: Outcome) -> str:
    if outcome.value is None:
        return "n/a"
    return f"{outcome.value:.2f} {outcome.unit}"


TITLE_WIDTH = 66


def print_table(outcomes: List[Outcome]) -> None:
    print()
    print("Every target: measured (subject / baseline in this run, median of interleaved rounds; see docs/performance.md)")
    print(f"  # | {'benchmark':<{TITLE_WIDTH}} | {'measured':>9} | {'target':<18} | verdict")
    print("----+-" + "-" * TITLE_WIDTH + "-+-" + "-" * 9 + "-+-" + "-" * 18 + "-+--------")
    for outcome in outcomes:
        note = f" ({outcome.note})" if outcome.note else ""
        print(f" {outcome.number:>2} | {outcome.title:<{TITLE_WIDTH}} | {_format_value(outcome):>9} | {outcome.target:<18} | {outcome.verdict()}{note}")


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small N: seconds per benchmark, to check they run (numbers not meaningful)")
    parser.add_argument("--only", default="", help="comma-separated benchmark numbers to run (default: all)")
    parser.add_argument("--stats-scores", type=int, help=f"scores in the store of 13-14; prune deletes half (default {bench_cli_store.STATS_SCORES:,})")
    parser.add_argument("--forward-scores", type=int, help=f"scores 15 forwards (default {bench_cli_store.FORWARD_SCORES:,})")
    args = parser.parse_args(argv)
    sizes = bench_cli_store.default_sizes(args.quick)
    sizes.stats_scores = args.stats_scores or sizes.stats_scores
    sizes.forward_scores = args.forward_scores or sizes.forward_scores
    benchmarks = {**BENCHMARKS, 13: functools.partial(bench_cli_store.run, sizes=sizes)}
    chosen = sorted(int(part) for part in args.only.split(",") if part.strip()) if args.only else sorted(BENCHMARKS)
    unknown = [number for number in chosen if number not in BENCHMARKS]
    if unknown:
        parser.error(f"no benchmark numbered {unknown[0]}; choose from {', '.join(map(str, sorted(BENCHMARKS)))}")

    print(f"otel-scoring benchmarks ({'quick' if args.quick else 'full'} mode)")
    print(describe_machine())
    outcomes: List[Outcome] = []
    failed = False
    started = time.perf_counter()
    for number in chosen:
        print(f"\n[{number}] {TITLES[number]}", flush=True)
        began = time.perf_counter()
        try:
            outcome = benchmarks[number](args.quick)
        except Exception:
            traceback.print_exc()
            failed = True
            outcome = Outcome(number, TITLES[number][:TITLE_WIDTH], None, "", "", None, note="FAILED to run, see above")
        print(f"  ({time.perf_counter() - began:.1f} s)", flush=True)
        outcomes.extend([outcome] if isinstance(outcome, Outcome) else outcome)
    print_table(outcomes)
    print(f"\nTotal {time.perf_counter() - started:.0f} s. {describe_machine().splitlines()[0]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
