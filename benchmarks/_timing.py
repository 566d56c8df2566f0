"""Measure a subject against its baseline in the same process, interleaved, as a ratio.

The machine these run on is shared, so absolute times mean little: what holds is the ratio of two
workloads measured side by side. Each round runs the baseline and the subject once, alternating
which goes first (ABBA) so slow drift in the machine's load hits both alike; the reported ratio is
the median of the per-round ratios, with the ratio of the best rounds alongside.
"""

from __future__ import annotations

import gc
import statistics
from dataclasses import dataclass, field
from typing import Callable, List, Optional

# One round of a workload: runs it and returns the seconds it took (measured by the workload
# itself, so it can leave its set-up out of the clock).
Round = Callable[[], float]


@dataclass
class Comparison:
    """Per-round seconds of subject and baseline; ratios are subject / baseline."""

    subject: List[float] = field(default_factory=list)
    baseline: List[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """Median of the per-round ratios: robust to a round disturbed by another process."""
        return statistics.median(s / b for s, b in zip(self.subject, self.baseline))

    @property
    def best_ratio(self) -> float:
        """Best subject round over best baseline round: each side with the least interference."""
        return min(self.subject) / min(self.baseline)

    @property
    def spread(self) -> float:
        """Relative spread of the per-round ratios (interquartile range / median)."""
        ratios = sorted(s / b for s, b in zip(self.subject, self.baseline))
        if len(ratios) < 4:
            return (ratios[-1] - ratios[0]) / statistics.median(ratios)
        quartiles = statistics.quantiles(ratios, n=4)
        return (quartiles[2] - quartiles[0]) / statistics.median(ratios)


def compare(subject: Round, baseline: Round, rounds: int, warmup_rounds: int = 1) -> Comparison:
    """Run ``rounds`` interleaved rounds of each (after untimed warm-up) and collect their times."""
    for _ in range(warmup_rounds):
        baseline()
        subject()
    comparison = Comparison()
    for index in range(rounds):
        gc.collect()  # start each side with the same garbage: none
        if index % 2 == 0:
            comparison.baseline.append(baseline())
            gc.collect()
            comparison.subject.append(subject())
        else:
            comparison.subject.append(subject())
            gc.collect()
            comparison.baseline.append(baseline())
    return comparison


def per_op_micros(seconds: List[float], ops_per_round: int) -> float:
    """Median microseconds per operation over the rounds."""
    return statistics.median(seconds) / ops_per_round * 1e6


@dataclass
class Outcome:
    """One benchmark's headline number, its target, and how it fared."""

    number: int
    title: str
    value: Optional[float]  # None when the code under test is not available
    unit: str  # "x" for a ratio, "MB" for memory
    target: str
    met: Optional[bool]
    note: str = ""

    def verdict(self) -> str:
        if self.value is None:
            return "not available yet"
        if self.met is None:
            return "reported (no target)"
        return "met" if self.met else "MISSED"
