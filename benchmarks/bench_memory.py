"""6. Memory: RSS growth over many scored spans with the processor, and over spans that never end.

Each workload runs in its own fresh interpreter (``benchmarks/_memory_child.py``), which reads
its resident set size from ``/proc/self/statm`` after a short warm-up and at ten checkpoints,
after a ``gc.collect()``. The headline is the growth over the scored spans with the processor
(target < 10 MB). Spans that never end must leave the processor bounded: its maps hold at most
``max_tracked_spans`` (10 000) of them, so growth must stop once they are full — the second half
of the run may add nothing. The same spans without the processor are measured alongside, as
the SDK's and the allocator's own share.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Dict

from benchmarks._timing import Outcome

TARGET_MB = 10.0
MB = 1024 * 1024
REPO_ROOT = Path(__file__).resolve().parent.parent
CHILD_TIMEOUT_SECONDS = 900


def _run_child(mode: str, spans: int) -> Dict:
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks._memory_child", mode, str(spans)],
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


def run(quick: bool) -> Outcome:
    spans = 12_000 if quick else 1_000_000
    open_spans = 12_000 if quick else 1_000_000
    results = {
        "scored": _run_child("scored", spans),
        "plain": _run_child("plain", spans),
        "open-scored": _run_child("open-scored", open_spans),
        "open-plain": _run_child("open-plain", open_spans),
    }
    scored, plain = results["scored"], results["plain"]
    opened, opened_plain = results["open-scored"], results["open-plain"]
    growth = _growth_mb(scored)
    bounded = _second_half_mb(opened) < 1.0
    print(
        f"  {spans:,} ended spans, every one scored, with the processor: RSS +{growth:.1f} MB "
        f"(MB by spans: {_curve(scored)}); the same spans unscored without it: +{_growth_mb(plain):.1f} MB"
    )
    print(
        f"  {open_spans:,} spans never ended, scored, with the processor: +{_growth_mb(opened):.1f} MB, "
        f"+{_second_half_mb(opened):.1f} MB in the second half ({'bounded' if bounded else 'NOT bounded'}; MB by spans: {_curve(opened)}); "
        f"without it: +{_growth_mb(opened_plain):.1f} MB"
    )
    if quick:
        print("  (quick mode: a few spans past filling the processor's maps; run without --quick for the real figure)")
    met = growth < TARGET_MB and bounded
    count = f"{spans / 1e6:g}M" if spans >= 1_000_000 else f"{spans // 1000}k"
    title = f"RSS growth, {count} scored spans with the processor"
    return Outcome(6, title, growth, "MB", f"< {TARGET_MB:g} MB, bounded", met, note=f"never-ended spans {'bounded' if bounded else 'NOT bounded'} at +{_growth_mb(opened):.1f} MB")
