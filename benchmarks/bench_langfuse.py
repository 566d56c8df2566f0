"""11–12. Total CPU per score against Langfuse v5's real client, each side a process of its own.

Both clients send to the same local sink (``benchmarks/_langfuse_sink.py``) that answers as
Langfuse's server and an OTLP/HTTP collector do. Langfuse runs from its own venv
(``.ci/langfuse.sh``, ``OTEL_SCORING_LANGFUSE_VENV``): it pins its own OpenTelemetry. otel-scoring
runs through ``configure()`` exporting OTLP/HTTP protobuf to the sink. Each child
(``_score_cpu_child.py``) measures its whole process's CPU (caller + background threads) per score:
in a span (a scored span's CPU minus the same span unscored, flushed each round) and by id
(``create_score(trace_id=, observation_id=)``). The parent runs the two children alternately
(ABBA) and reports the median of the per-pair ratios. Every score made must arrive: Langfuse's are
counted at the sink, ours by the delivery queue's drop counters; a drop fails the benchmark.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from benchmarks._langfuse_sink import Sink, counts
from benchmarks._timing import Outcome

TARGET_IN_SPAN = 0.2
TARGET_BY_ID = 0.5
REPO_ROOT = Path(__file__).resolve().parent.parent
CHILD = Path(__file__).resolve().parent / "_score_cpu_child.py"


def langfuse_python() -> Optional[Path]:
    venv = Path(os.environ.get("OTEL_SCORING_LANGFUSE_VENV", REPO_ROOT / ".ci" / ".langfuse-venv"))
    python = venv / "bin" / "python"
    return python if python.exists() else None


def _run_child(python: str, side: str, sink: Sink, n: int, rounds: int) -> Dict[str, float]:
    before, _ = counts(sink)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT) if side == "otel" else "")
    completed = subprocess.run(
        [python, str(CHILD), side, sink.base_url, str(n), str(rounds)], capture_output=True, text=True, timeout=600, env=env, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{side} child failed:\n{completed.stderr[-3000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    if side == "langfuse":
        received = counts(sink)[0] - before
        result["dropped"] = result["scores_made"] - received
    if result["dropped"]:
        raise RuntimeError(f"{side} dropped {result['dropped']} of {result['scores_made']} scores: the comparison would not be like for like")
    return result


def run_both(quick: bool) -> Tuple[Outcome, Outcome]:
    python = langfuse_python()
    if python is None:
        note = "Langfuse venv missing: run .ci/langfuse.sh"
        print(f"  skipped: {note}")
        return (
            Outcome(11, "CPU per score in a span: otel-scoring / Langfuse v5", None, "x", f"<= {TARGET_IN_SPAN}x", None, note=note),
            Outcome(12, "CPU per score by id: otel-scoring / Langfuse v5", None, "x", f"<= {TARGET_BY_ID}x", None, note=note),
        )
    n, rounds, pairs = (200, 2, 1) if quick else (2000, 5, 4)
    ours: List[Dict[str, float]] = []
    theirs: List[Dict[str, float]] = []
    with Sink() as sink:
        for index in range(pairs):
            order = (("otel", sys.executable), ("langfuse", str(python)))
            for side, executable in order if index % 2 == 0 else order[::-1]:
                (ours if side == "otel" else theirs).append(_run_child(executable, side, sink, n, rounds))
        unexpected = {call: count for call, count in sink.calls.items() if "scores" not in call and "traces" not in call}
    span_ratio = statistics.median(o["in_span_us"] / t["in_span_us"] for o, t in zip(ours, theirs))
    id_ratio = statistics.median(o["by_id_us"] / t["by_id_us"] for o, t in zip(ours, theirs))

    def us(results: List[Dict[str, float]], key: str) -> float:
        return statistics.median(result[key] for result in results)

    made = sum(result["scores_made"] for result in ours + theirs)
    print(f"  in a span: otel-scoring {us(ours, 'in_span_us'):.0f} us CPU per score, Langfuse v5 {us(theirs, 'in_span_us'):.0f} us: {span_ratio:.2f}x")
    print(f"  by id:     otel-scoring {us(ours, 'by_id_us'):.0f} us CPU per score, Langfuse v5 {us(theirs, 'by_id_us'):.0f} us: {id_ratio:.2f}x")
    print(f"  {pairs} process pairs x {rounds} rounds x {n} scores; {made} scores made, 0 dropped; calls the sink did not expect: {unexpected or 'none'}")
    return (
        Outcome(11, "CPU per score in a span: otel-scoring / Langfuse v5", span_ratio, "x", f"<= {TARGET_IN_SPAN}x", span_ratio <= TARGET_IN_SPAN),
        Outcome(12, "CPU per score by id: otel-scoring / Langfuse v5", id_ratio, "x", f"<= {TARGET_BY_ID}x", id_ratio <= TARGET_BY_ID),
    )
