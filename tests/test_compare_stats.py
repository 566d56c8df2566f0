"""The comparison's statistics: Welch's t interval holds its error rate, and finds real shifts."""

from __future__ import annotations

import math
import random
from typing import Callable, List

import pytest

from otel_scoring.dashboard._stats import CONFIDENCE, Sample, regularized_beta, t_quantile, verdict, welch_difference

SEEDS = 400
N = 150
# One-sided: a degradation is flagged when the whole two-sided 95% interval is below zero.
FALSE_FLAG_RATE = (1 - CONFIDENCE) / 2
# Four times the binomial standard deviation above the expected count of false flags.
MAX_FALSE_FLAGS = SEEDS * FALSE_FLAG_RATE + 4 * (SEEDS * FALSE_FLAG_RATE * (1 - FALSE_FLAG_RATE)) ** 0.5

Draw = Callable[[random.Random, float], float]
DISTRIBUTIONS = {
    "normal": lambda rng, shift: rng.gauss(0.7 - shift, 0.15),
    "uniform": lambda rng, shift: rng.uniform(0.2, 1.0) - shift,
    "pass-fail": lambda rng, shift: 1.0 if rng.random() < 0.7 - shift else 0.0,
    # 1-5 stars; shifted, a star is lost with probability `shift`
    "stars": lambda rng, shift: max(1.0, rng.choices((1, 2, 3, 4, 5), weights=(1, 1, 2, 4, 4))[0] - (rng.random() < shift)),
}
# Shifts of 0.6 baseline standard deviations: with 150 scores a cohort, found with power above 99%.
SHIFTS = {"normal": 0.09, "uniform": 0.14, "pass-fail": 0.27, "stars": 0.8}


def _sample(values: List[float]) -> Sample:
    mean = math.fsum(values) / len(values)
    return Sample(len(values), mean, math.fsum((value - mean) ** 2 for value in values) / (len(values) - 1))


def _flag_rate(draw: Draw, shift: float) -> float:
    flagged = 0
    for seed in range(SEEDS):
        rng = random.Random(seed)
        baseline = [draw(rng, 0.0) for _ in range(N)]
        candidate = [draw(rng, shift) for _ in range(N)]
        _, degraded = verdict(welch_difference(_sample(baseline), _sample(candidate)), lower_is_better=False)
        flagged += degraded
    return flagged / SEEDS


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_an_unchanged_score_is_flagged_at_most_at_the_stated_error_rate(name):
    """Over 400 seeds of two equal cohorts, a degradation is claimed about 2.5% of the time, never much more."""
    rate = _flag_rate(DISTRIBUTIONS[name], 0.0)
    assert rate * SEEDS <= MAX_FALSE_FLAGS, f"{name}: {rate:.1%} false degradations"


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_a_lowered_score_is_flagged_nearly_always(name):
    """A candidate whose mean is lower by 0.6 standard deviations (a worse prompt) is flagged in at least 95% of seeds."""
    assert _flag_rate(DISTRIBUTIONS[name], SHIFTS[name]) >= 0.95


def test_the_interval_matches_textbook_quantiles_and_the_verdict_follows_the_direction():
    """t quantiles match the tables; a rise is a degradation only when lower is better."""
    assert t_quantile(0.975, 1) == pytest.approx(12.7062, abs=1e-3)
    assert t_quantile(0.975, 10) == pytest.approx(2.2281, abs=1e-4)
    assert t_quantile(0.975, 1e9) == pytest.approx(1.95996, abs=1e-4)
    assert regularized_beta(0.5, 2.0, 2.0) == pytest.approx(0.5)
    baseline, candidate = Sample(50, 1.0, 0.04), Sample(50, 1.2, 0.04)
    difference = welch_difference(baseline, candidate)
    assert difference is not None and difference.low > 0
    assert verdict(difference, lower_is_better=False) == ("improved", False)
    assert verdict(difference, lower_is_better=True) == ("degraded", True)
    assert verdict(welch_difference(Sample(1, 1.0, 0.0), candidate), lower_is_better=False) == ("not enough data", False)
