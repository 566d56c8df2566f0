"""The benchmark command runs end to end in its quick mode and reports every ratio."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.bench_langfuse import langfuse_python

REPO_ROOT = Path(__file__).resolve().parent.parent


def _summary_rows(output: str) -> dict:
    """Benchmark number -> measured cells of the summary table (`` 1 | title | 3.21 x | ...``), one per target."""
    rows: dict = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) >= 5 and cells[0].isdigit():
            rows.setdefault(int(cells[0]), []).append(cells[2])
    return rows


# How many rows each benchmark reports in the summary table (5: serve --workers, and one process).
TARGETS = {1: 1, 2: 2, 3: 1, 4: 2, 5: 2, 6: 2, 7: 1, 8: 2, 11: 1, 12: 1, 13: 1, 14: 1, 15: 1}


@pytest.mark.slow
def test_quick_benchmarks_print_every_ratio() -> None:
    """`python -m benchmarks --quick` (tiny sizes) completes and its summary has a number for every target."""
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--stats-scores", "4000", "--forward-scores", "200"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    rows = _summary_rows(completed.stdout)
    assert {number: len(cells) for number, cells in rows.items()} == TARGETS, completed.stdout[-3000:]
    if not langfuse_python() and not os.environ.get("CI"):
        # Benchmarks 11-12 need Langfuse's client in its own venv (.ci/langfuse.sh): in CI it is
        # installed, elsewhere those two rows say it is missing and report no number.
        assert rows.pop(11) == rows.pop(12) == ["n/a"]
    for number, cells in rows.items():
        for cell in cells:
            value, unit = cell.split()
            float(value)  # raises (failing the test) when a benchmark reported no number
            assert unit in ("x", "MB"), f"benchmark {number} reported {cell!r}"


@pytest.mark.slow
def test_score_call_profile_lists_every_stage() -> None:
    """`python -m benchmarks.profile_score_call` at a tiny size lists each stage and the SDK floor."""
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.profile_score_call", "--calls", "50"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "score_current_span, whole call" in completed.stdout
    assert "span.events of a span with no events yet" in completed.stdout
    assert "SDK floor of the same wire" in completed.stdout


@pytest.mark.slow
def test_quick_dashboard_benchmark_reports_each_page() -> None:
    """`python -m benchmarks.bench_dashboard --quick` fills a store and reports a ratio for each dashboard page."""
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_dashboard", "--quick"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    rows = [line.split() for line in completed.stdout.splitlines()]
    pages = {cells[0]: cells[3] for cells in rows if len(cells) >= 5 and cells[0] in ("trends", "compare", "runs", "overview") and cells[3].endswith("x")}
    assert sorted(pages) == ["compare", "overview", "runs", "trends"]
    assert all(float(ratio.rstrip("x")) > 0 for ratio in pages.values())
    assert "compare verdict on the benchmark's store: degraded" in completed.stdout
