"""The statistics behind a comparison: Welch's t interval for a difference in means.

Why Welch's t and not a bootstrap: it needs only each cohort's count, mean and variance, which
SQLite sums in one pass over the cohort's scores, so a comparison over a million scores loads
none of them; a bootstrap resamples the scores themselves, thousands of times. Welch's interval
does not assume equal variances (a new prompt often changes the spread as well as the mean), and
for the means of bounded scores (0-1 ratings, 1-5 stars, pass/fail) the central limit theorem
makes it accurate at the sample sizes a verdict is given for; the suite holds it to its error
rate on normal, uniform, two-point and five-point distributions over many seeds
(tests/test_compare_stats.py).

The t distribution's quantiles come from its CDF, the regularized incomplete beta function
evaluated by its continued fraction (modified Lentz), inverted by bisection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

CONFIDENCE = 0.95  # two-sided: a degradation is flagged when the whole interval is on the worse side
MIN_SCORES = 2  # per cohort: a variance needs two values

_EPSILON = 1e-15
_TINY = 1e-300
_MAX_ITERATIONS = 300


@dataclass(frozen=True)
class Sample:
    """What a comparison needs of one cohort: how many numeric scores, their mean and variance."""

    n: int
    mean: float
    variance: float  # the sample variance (n - 1 in the denominator)


@dataclass(frozen=True)
class Difference:
    """Candidate mean minus baseline mean, with its two-sided interval at ``confidence``."""

    estimate: float
    low: float
    high: float
    degrees_of_freedom: float
    p_value: float  # two-sided, of no difference in means
    confidence: float


def welch_difference(baseline: Sample, candidate: Sample, confidence: float = CONFIDENCE) -> Optional[Difference]:
    """Welch's interval for ``candidate.mean - baseline.mean``; None below MIN_SCORES per cohort."""
    if baseline.n < MIN_SCORES or candidate.n < MIN_SCORES:
        return None
    estimate = candidate.mean - baseline.mean
    share_baseline = max(baseline.variance, 0.0) / baseline.n
    share_candidate = max(candidate.variance, 0.0) / candidate.n
    standard_error = math.sqrt(share_baseline + share_candidate)
    if standard_error == 0.0:
        # Both cohorts constant: the difference is known exactly.
        return Difference(estimate, estimate, estimate, math.inf, 1.0 if estimate == 0 else 0.0, confidence)
    df = (share_baseline + share_candidate) ** 2 / (
        share_baseline**2 / (baseline.n - 1) + share_candidate**2 / (candidate.n - 1)
    )
    margin = t_quantile(0.5 + confidence / 2, df) * standard_error
    p_value = 2.0 * (1.0 - t_cdf(abs(estimate) / standard_error, df))
    return Difference(estimate, estimate - margin, estimate + margin, df, min(1.0, max(0.0, p_value)), confidence)


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom (a normal one for df = inf)."""
    if math.isinf(df):
        return 0.5 * math.erfc(-t / math.sqrt(2.0))
    x = df / (df + t * t)
    tail = 0.5 * regularized_beta(x, df / 2.0, 0.5)  # P(T > |t|)
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t (0 < p < 1), by bisection of :func:`t_cdf`."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be between 0 and 1, got {p!r}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:  # widen until the quantile is bracketed (a few steps even for df ~ 1)
        low, high = high, high * 2.0
    for _ in range(200):
        middle = (low + high) / 2.0
        if t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
        if high - low < 1e-12 * max(1.0, high):
            break
    return (low + high) / 2.0


def regularized_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b), the regularized incomplete beta function, for 0 <= x <= 1 and a, b > 0."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    # The continued fraction converges fast for x below (a + 1) / (a + b + 2); use symmetry above.
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(x, a, b) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(1.0 - x, b, a) / b


def _beta_fraction(x: float, a: float, b: float) -> float:
    """The continued fraction of the incomplete beta function, by the modified Lentz method."""
    c = 1.0
    d = 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    result = d
    for m in range(1, _MAX_ITERATIONS + 1):
        twice = 2 * m
        for numerator in (m * (b - m) * x / ((a + twice - 1.0) * (a + twice)), -(a + m) * (a + b + m) * x / ((a + twice) * (a + twice + 1.0))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            result *= d * c
        if abs(d * c - 1.0) < _EPSILON:
            break
    return result


def verdict(difference: Optional[Difference], lower_is_better: bool) -> Tuple[str, bool]:
    """(verdict text, whether the candidate is significantly worse) of a difference."""
    if difference is None:
        return "not enough data", False
    worse_below = not lower_is_better  # higher is better: a negative difference is a degradation
    if (difference.high < 0 if worse_below else difference.low > 0) and difference.estimate != 0:
        return "degraded", True
    if (difference.low > 0 if worse_below else difference.high < 0) and difference.estimate != 0:
        return "improved", False
    return "no significant difference", False
