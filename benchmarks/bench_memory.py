"""6. Memory: RSS growth over many scored spans through ``configure()``, and over spans that never end.

Each workload runs in its own fresh interpreter (``benchmarks/_memory_child.py``), which reads
its resident set size from ``/proc/self/statm`` after a short warm-up and at ten checkpoints,
after a ``gc.collect()``. The spans go through ``configure()``'s whole pipeline, its delivery
queue included, exporting OTLP/gRPC to a collector sink in its own process; the application
makes spans as fast as it can and never waits for the export, so what the queue holds counts.
The headline is the growth over 1 M scored spans (target < 10 MB with 0 dropped: the drops are
counted by the delivery queue and reported). Spans that never end must leave the processor
bounded: its maps hold at most ``max_tracked_spans`` (10 000) of them, so growth must stop once
they are full — the second half of the run may add nothing. The same spans unscored through
``configure()`` are measured alongside, as the SDK's, the export's and the allocator's share.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

from benchmarks._null_sink import NullSink
from benchmarks._timing import Outcome

TARGET_MB = 10.0
MB = 1024 * 1024
REPO_ROOT = Path(__file__).resolve().parent.parent
CHILD_TIMEOUT_SECONDS = 900


def _run_child(mode: str, spans: int, endpoint: str) -> Dict:
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks._memory_child", mode, str(spans), endpoint],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_SECONDS,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"memory workload {mode!r} failed ({completed.returncode}): {completed.stderr.strip()[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _growth_mb(result: Dict) -> float:
    return result["growth"][-1][1] / MB


def _second_half_mb(result: Dict) -> float:
    """Growth between the middle checkpoint and the end: zero for a bounded workload."""
    growth = result["growth"]
    return (growth[-1][1] - growth[len(growth) // 2 - 1][1]) / MB


def _curve(result: Dict) -> str:
    return ", ".join(f"{spans // 1000}k: {grown / MB:.1f}" for spans, grown in result["growth"][1::3])


def run(quick: bool) -> List[Outcome]:
    spans = 12_000 if quick else 1_000_000
    open_spans = 12_000 if quick else 1_000_000
    with NullSink() as sink:
        results = {
            "scored": _run_child("scored", spans, sink.url),
            "plain": _run_child("plain", spans, sink.url),
            "open-scored": _run_child("open-scored", open_spans, sink.url),
            "open-plain": _run_child("open-plain", open_spans, sink.url),
        }
    scored, plain = results["scored"], results["plain"]
    opened, opened_plain = results["open-scored"], results["open-plain"]
    growth = _growth_mb(scored)
    bounded = _second_half_mb(opened) < 1.0
    dropped = scored["dropped"]
    print(
        f"  {spans:,} ended spans, every one scored, through configure(): RSS +{growth:.1f} MB "
        f"(MB by spans: {_curve(scored)}); {scored['exported']:,} spans exported, {dropped:,} dropped "
        f"({scored['dropped_scored']:,} of them score-carrying); spans waiting in the delivery queue at the checkpoints: "
        f"{', '.join(str(count) for count in scored['backlog'][1::3])}"
    )
    print(f"  the same spans unscored through configure(): +{_growth_mb(plain):.1f} MB; {plain['exported']:,} exported, {plain['dropped']:,} dropped")
    for name, result in (("scored", scored), ("unscored", plain)):
        if not result["flushed"]:  # force_flush says False when anything is undelivered or was lost
            print(f"  the {name} run's force_flush after the last span reported spans not delivered: {result['stats']}")
    print(
        f"  {open_spans:,} spans never ended, scored, through configure(): +{_growth_mb(opened):.1f} MB, "
        f"+{_second_half_mb(opened):.1f} MB in the second half ({'bounded' if bounded else 'NOT bounded'}; MB by spans: {_curve(opened)}); "
        f"without it: +{_growth_mb(opened_plain):.1f} MB"
    )
    if quick:
        print("  (quick mode: a few spans past filling the processor's maps; run without --quick for the real figure)")
    count = f"{spans / 1e6:g}M" if spans >= 1_000_000 else f"{spans // 1000}k"
    return [
        Outcome(6, f"RSS growth, {count} scored spans through configure()", growth, "MB", f"< {TARGET_MB:g} MB, 0 dropped", growth < TARGET_MB and dropped == 0 and scored["flushed"], note=f"{dropped:,} spans dropped" + ("" if scored["flushed"] else ", not all delivered")),
        Outcome(6, f"RSS growth, {count} never-ended scored spans", _growth_mb(opened), "MB", "bounded", bounded, note=f"+{_second_half_mb(opened):.1f} MB in the second half"),
    ]
