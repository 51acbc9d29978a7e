"""The regression test: is ``current`` worse than ``baseline``? (a Kayenta-style canary judge).

For baseline ``b_1..b_n`` and current ``c_1..c_m`` (NaN and infinite values dropped):

* **Mann-Whitney U**, two-sided, ``U = #{(i, j): c_j > b_i} + #{c_j = b_i} / 2``;
  ``significant`` when its p-value is below ``alpha = 1 - confidence``. Two-sided because the
  judge reports improvements as well as regressions; a regression is therefore declared on
  at most ``alpha / 2`` of identical-distribution comparisons, fewer after the size gate.
* **Hodges-Lehmann shift** ``HL = median_{i,j}(c_j - b_i)``. With more than ``max_pairs``
  pairs, the median (and the interval) come from ``max_pairs`` pairs drawn uniformly with
  replacement by ``numpy.random.default_rng(seed)``, so the same inputs give the same answer.
* **Its confidence interval** (Moses; Hollander & Wolfe, ch. 4): with the ``nm`` ordered
  differences ``D_(1) <= ... <= D_(nm)`` and
  ``k = floor(nm/2 - z_{1 - alpha/2} sqrt(nm (n + m + 1) / 12))`` (the normal approximation
  of the Mann-Whitney critical value, ties ignored, so slightly conservative),
  ``[D_(k), D_(nm + 1 - k)]``; from a subsample, the same fractions of the sampled pairs.
* **Relative shift** ``HL / median(b)``; **Cliff's delta** ``2U / nm - 1`` in ``[-1, 1]`` (the
  rank-biserial correlation); **p50/p95/p99** of both sides and ``p_current / p_baseline - 1``.

Verdict, with ``sign = +1`` for ``direction="up"`` (higher is worse, e.g. latency), ``-1`` for
``"down"`` (e.g. throughput): ``inconclusive`` if either side has fewer than ``min_samples``
values or ``median(b) = 0``; else ``regression`` if ``significant`` and
``sign * relative_shift >= min_relative_change``; ``improvement`` if ``significant`` and
``sign * relative_shift <= -min_relative_change``; ``pass`` otherwise. The size gate uses the
HL relative shift, not the p95 delta: an order statistic of the tail moves by several percent
between two samples of a few hundred values from the same distribution, while the HL shift is
what the rank test measured. The p95 delta is reported beside it for the reader.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Direction = Literal["up", "down"]
Outcome = Literal["pass", "regression", "improvement", "inconclusive"]
FloatArray = npt.NDArray[np.float64]
MAX_PAIRS = 1_000_000
PERCENTILES = (50.0, 95.0, 99.0)


@dataclass(frozen=True)
class Verdict:
    """Everything :func:`compare` computed, plus the outcome and a sentence saying why."""

    outcome: Outcome
    reason: str
    n_baseline: int
    n_current: int
    confidence: float
    p_value: float
    significant: bool
    u_statistic: float
    hl_shift: float
    hl_low: float
    hl_high: float
    relative_shift: float
    relative_low: float
    relative_high: float
    cliffs_delta: float
    baseline_p50: float
    baseline_p95: float
    baseline_p99: float
    current_p50: float
    current_p95: float
    current_p99: float
    p50_delta: float
    p95_delta: float
    p99_delta: float
    p95_change_low: float = math.nan  # bootstrap interval of current p95 / baseline p95 − 1
    p95_change_high: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)


@dataclass(frozen=True)
class _Shift:
    estimate: float
    low: float
    high: float


def hodges_lehmann(
    baseline: FloatArray,
    current: FloatArray,
    *,
    confidence: float = 0.95,
    max_pairs: int = MAX_PAIRS,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``(HL, low, high)``: the median of ``c_j - b_i`` and its Moses interval (module doc)."""
    shift = _hodges_lehmann(baseline, current, confidence, max_pairs, seed)
    return shift.estimate, shift.low, shift.high


def _pair_differences(
    baseline: FloatArray, current: FloatArray, max_pairs: int, seed: int
) -> FloatArray:
    n, m = baseline.size, current.size
    if n * m <= max_pairs:
        return np.sort(np.subtract.outer(current, baseline).ravel())
    rng = np.random.default_rng(seed)
    picks = current[rng.integers(0, m, max_pairs)] - baseline[rng.integers(0, n, max_pairs)]
    return np.sort(picks)


def _hodges_lehmann(
    baseline: FloatArray, current: FloatArray, confidence: float, max_pairs: int, seed: int
) -> _Shift:
    n, m = baseline.size, current.size
    diffs = _pair_differences(baseline, current, max_pairs, seed)
    from scipy import stats  # first use: scipy is ~70 MB resident

    z = float(stats.norm.ppf(0.5 + confidence / 2))
    k = math.floor(n * m / 2 - z * math.sqrt(n * m * (n + m + 1) / 12))
    if k < 1:  # too few pairs for an interval at this confidence
        return _Shift(float(np.median(diffs)), -math.inf, math.inf)
    lo = max(0, math.ceil(k / (n * m) * diffs.size) - 1)
    return _Shift(float(np.median(diffs)), float(diffs[lo]), float(diffs[diffs.size - 1 - lo]))


def _clean(values: npt.ArrayLike) -> FloatArray:
    array = np.asarray(values, dtype=np.float64).ravel()
    return array[np.isfinite(array)]


def _percentiles(values: FloatArray) -> tuple[float, float, float]:
    if values.size == 0:
        return math.nan, math.nan, math.nan
    p50, p95, p99 = np.percentile(values, PERCENTILES)
    return float(p50), float(p95), float(p99)


def _ratio(new: float, old: float) -> float:
    return new / old - 1 if old != 0 else math.nan


def compare(
    baseline: npt.ArrayLike,
    current: npt.ArrayLike,
    *,
    confidence: float = 0.95,
    min_relative_change: float = 0.05,
    min_samples: int = 30,
    direction: Direction = "up",
    max_pairs: int = MAX_PAIRS,
    seed: int = 0,
) -> Verdict:
    """Judge ``current`` against ``baseline`` (see the module docstring for every formula).

    Args:
        baseline: Values from the reference period or version (not modified).
        current: Values from the period or version under test (not modified).
        confidence: ``1 - alpha`` of the Mann-Whitney test and of the HL interval.
        min_relative_change: Smallest ``|HL| / median(baseline)`` that counts.
        min_samples: Fewer values on either side gives ``inconclusive``.
        direction: ``"up"`` when higher is worse (latency), ``"down"`` when lower is worse.
        max_pairs: Above this many pairs, HL and its interval use a seeded subsample.
        seed: Seed of that subsample.

    Returns:
        The :class:`Verdict`.
    """
    b, c = _clean(baseline), _clean(current)
    pb, pc = _percentiles(b), _percentiles(c)
    quantiles = (*pb, *pc, *(_ratio(x, y) for x, y in zip(pc, pb, strict=True)))
    if b.size == 0 or c.size == 0:
        reason = _short_reason(b.size, c.size, min_samples) or "no samples"
        no_test = (math.nan,) * 8  # p, U, HL, its interval, relative shift and interval
        return Verdict(
            "inconclusive",
            reason,
            b.size,
            c.size,
            confidence,
            no_test[0],
            False,
            *no_test[1:],
            math.nan,
            *quantiles,
        )
    from scipy import stats  # first use: scipy is ~70 MB resident

    test = stats.mannwhitneyu(c, b, alternative="two-sided", method="asymptotic")
    u, p = float(test.statistic), float(test.pvalue)
    shift = _hodges_lehmann(b, c, confidence, max_pairs, seed)
    median_b = pb[0]
    bounds = (shift.estimate, shift.low, shift.high)
    rel = [x / abs(median_b) if median_b != 0 else math.nan for x in bounds]
    delta = 2 * u / (b.size * c.size) - 1
    significant = p < 1 - confidence
    outcome, reason = _decide(
        b.size,
        c.size,
        min_samples,
        significant,
        p,
        rel[0],
        min_relative_change,
        direction,
        confidence,
    )
    tail = (math.nan, math.nan)
    if outcome == "pass" and min(b.size, c.size) >= min_samples:
        tail = p95_change_interval(b, c, confidence, seed)
        outcome, reason = _tail_gate(outcome, reason, tail, min_relative_change, direction)
    verdict = Verdict(
        outcome,
        reason,
        b.size,
        c.size,
        confidence,
        p,
        significant,
        u,
        shift.estimate,
        shift.low,
        shift.high,
        rel[0],
        rel[1],
        rel[2],
        delta,
        *quantiles,
    )
    return replace(verdict, p95_change_low=tail[0], p95_change_high=tail[1])


BOOTSTRAP_RESAMPLES = 400


def p95_change_interval(
    baseline: FloatArray, current: FloatArray, confidence: float, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap interval of ``p95(current) / p95(baseline) − 1``.

    The rank test and the Hodges-Lehmann shift measure the bulk of the distribution,
    so a slow tail with an unchanged median passes them; this interval is the tail's
    own evidence. Resamples are seeded, so the same samples give the same interval.
    """
    rng = np.random.default_rng(seed)
    alpha = 1 - confidence
    b = np.quantile(rng.choice(baseline, (BOOTSTRAP_RESAMPLES, baseline.size)), 0.95, axis=1)
    c = np.quantile(rng.choice(current, (BOOTSTRAP_RESAMPLES, current.size)), 0.95, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        change = c / b - 1
    change = change[np.isfinite(change)]
    if change.size == 0:
        return math.nan, math.nan
    low, high = np.quantile(change, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def _tail_gate(
    outcome: Outcome,
    reason: str,
    interval: tuple[float, float],
    min_relative_change: float,
    direction: Direction,
) -> tuple[Outcome, str]:
    """Turn a pass into a regression (or improvement) when the p95 alone moved clearly."""
    low, high = interval
    if math.isnan(low):
        return outcome, reason
    worse_up = direction == "up"
    if low > min_relative_change or high < -min_relative_change:
        rose = low > min_relative_change
        verdict: Outcome = "regression" if rose == worse_up else "improvement"
        return verdict, (
            f"p95 {'rose' if rose else 'fell'} by {low:+.1%} to {high:+.1%} "
            f"(bootstrap interval) while the median held: {reason}"
        )
    return outcome, reason


def _short_reason(n_baseline: int, n_current: int, min_samples: int) -> str:
    short = [
        f"{side} has {n} samples, need {min_samples}"
        for side, n in (("baseline", n_baseline), ("current", n_current))
        if n < min_samples
    ]
    return "; ".join(short)


def _decide(
    n_baseline: int,
    n_current: int,
    min_samples: int,
    significant: bool,
    p_value: float,
    relative_shift: float,
    min_relative_change: float,
    direction: Direction,
    confidence: float,
) -> tuple[Outcome, str]:
    short = _short_reason(n_baseline, n_current, min_samples)
    if short:
        return "inconclusive", short
    if math.isnan(relative_shift):
        return "inconclusive", "baseline median is 0, so a relative shift is undefined"
    alpha = 1 - confidence
    moved = f"current is {abs(relative_shift):.1%} {'higher' if relative_shift > 0 else 'lower'}"
    test = f"Mann-Whitney p={p_value:.3g} {'<' if significant else '>='} {alpha:.3g}"
    bad = relative_shift if direction == "up" else -relative_shift
    if not significant:
        return "pass", f"{moved} (Hodges-Lehmann), not significant: {test}"
    if bad >= min_relative_change:
        return "regression", f"{moved} (Hodges-Lehmann), significant: {test}"
    if bad <= -min_relative_change:
        return "improvement", f"{moved} (Hodges-Lehmann), significant: {test}"
    return "pass", f"{moved}, below the {min_relative_change:.1%} that counts ({test})"
