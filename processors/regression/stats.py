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

**The tail** (:mod:`tail`): a permutation test on ``ln x`` of the values above the pooled
p80, and ``tail_change``, the relative change of their mean.

**Verdict**, with "worse" meaning higher for ``direction="up"`` (latency) and lower for
``"down"`` (throughput): ``inconclusive`` if either side has fewer than ``min_samples`` values
or ``median(b) = 0``. Otherwise the false-alarm rate ``fa`` (default 2 %) is split by
Bonferroni: 1/8 to the one-sided Mann-Whitney p-value, 3/4 to the tail test and 3/40 to
the sequential test (1/20 kept as margin: with 4/5 the held-out false-alarm rate at
n = 1,000 came out at 2.08 %) of :func:`release.judge_release`,
``p_adjusted = p / share``. ``regression`` if the worse-side ``p_adjusted < fa`` for the
rank test with ``HL / median(b) >= min_relative_change`` worse, or for the tail test with
``tail_change >= min_relative_change`` worse; ``improvement`` likewise the other way;
``pass`` otherwise. Between two samples of one distribution a regression is therefore called
at most ``fa`` of the time (``benchmarks.tcpd --synthetic`` measures it). ``certainty`` is
``1 - p_adjusted`` of the deciding test, and the reason says which test decided. The tail
share is the larger because users feel the tail and the rank test has power to spare for
whole-distribution shifts. ``significant`` (Mann-Whitney two-sided ``p < 1 - confidence``) is
reported for the reader; it does not decide.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from otel_perf.processors.regression.tail import TailTest, tail_test

Direction = Literal["up", "down"]
Outcome = Literal["pass", "regression", "improvement", "inconclusive"]
FloatArray = npt.NDArray[np.float64]
MAX_PAIRS = 1_000_000
PERCENTILES = (50.0, 95.0, 99.0)
FALSE_ALARM_RATE = 0.02
# shares of the false-alarm rate: the rank test, the tail test, and (in :func:`judge_release`)
# the sequential test; they add up to 0.95 (a margin for the permutation tests' own error),
# so by Bonferroni the verdict keeps the rate
LOCATION_SHARE = 0.125
TAIL_SHARE = 0.75
SEQUENTIAL_SHARE = 0.075


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
    tail_p_value: float = math.nan  # the tail test's smaller one-sided p-value
    tail_change: float = math.nan  # mean above the pooled p80: current / baseline − 1
    tail_threshold: float = math.nan
    p_adjusted: float = 1.0  # the deciding test's Bonferroni-weighted p-value
    certainty: float = 0.0  # 1 − p_adjusted
    false_alarm_rate: float = math.nan
    samples_to_verdict: int = 0  # of current, when the sequential test called it early

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
    false_alarm_rate: float = FALSE_ALARM_RATE,
    max_pairs: int = MAX_PAIRS,
    seed: int = 0,
) -> Verdict:
    """Judge ``current`` against ``baseline`` (see the module docstring for every formula).

    Args:
        baseline: Values from the reference period or version (not modified).
        current: Values from the period or version under test (not modified).
        confidence: ``1 - alpha`` of the reported significance and of the HL interval.
        min_relative_change: Smallest ``|HL| / median(baseline)`` (or tail change) that counts.
        min_samples: Fewer values on either side gives ``inconclusive``.
        direction: ``"up"`` when higher is worse (latency), ``"down"`` when lower is worse.
        false_alarm_rate: Chance of calling a regression (or an improvement) between two
            samples of one distribution; split between the location and the tail test.
        max_pairs: Above this many pairs, HL and its interval use a seeded subsample.
        seed: Seed of that subsample.

    Returns:
        The :class:`Verdict`.
    """
    b, c = _clean(baseline), _clean(current)
    pb, pc = _percentiles(b), _percentiles(c)
    r50, r95, r99 = (_ratio(x, y) for x, y in zip(pc, pb, strict=True))
    quantiles = (*pb, *pc, r50, r95, r99)
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

    up = direction == "up"
    test = stats.mannwhitneyu(c, b, alternative="two-sided", method="asymptotic")
    u, p = float(test.statistic), float(test.pvalue)
    shift = _hodges_lehmann(b, c, confidence, max_pairs, seed)
    median_b = pb[0]
    bounds = (shift.estimate, shift.low, shift.high)
    rel = [x / abs(median_b) if median_b != 0 else math.nan for x in bounds]
    delta = 2 * u / (b.size * c.size) - 1
    tail = tail_test(b, c, up_is_worse=up)
    evidence = _Evidence(
        p, (delta > 0) == up, rel[0] if up else -rel[0], tail, tail.change if up else -tail.change
    )
    outcome, reason, p_adjusted = _decide(
        evidence,
        _short_reason(b.size, c.size, min_samples),
        min_relative_change,
        false_alarm_rate,
        rel[0],
    )
    verdict = Verdict(
        outcome,
        reason,
        b.size,
        c.size,
        confidence,
        p,
        p < 1 - confidence,
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
    return replace(
        verdict,
        tail_p_value=min(tail.p_worse, tail.p_better),
        tail_change=tail.change,
        tail_threshold=tail.threshold,
        p_adjusted=p_adjusted,
        certainty=1 - p_adjusted,
        false_alarm_rate=false_alarm_rate,
    )


@dataclass(frozen=True)
class _Evidence:
    p_two_sided: float  # Mann-Whitney
    toward_worse: bool  # the rank test's effect points the worse way
    bad_shift: float  # HL shift / median, positive when worse
    tail: TailTest
    bad_tail_change: float  # the tail's relative change, positive when worse


def _adjusted(e: _Evidence, worse: bool) -> tuple[float, float]:
    """Bonferroni-weighted p-values ``(location, tail)`` of one direction (``worse`` or not)."""
    one_sided = e.p_two_sided / 2 if e.toward_worse == worse else 1 - e.p_two_sided / 2
    p_tail = e.tail.p_worse if worse else e.tail.p_better
    return min(1.0, one_sided / LOCATION_SHARE), min(1.0, p_tail / TAIL_SHARE)


def _decide(
    e: _Evidence, short: str, min_change: float, fa: float, relative_shift: float
) -> tuple[Outcome, str, float]:
    """``(outcome, reason, p_adjusted)``: the smallest adjusted p-value whose test passes
    both its level and its size gate decides; a regression wins over an improvement."""
    if short:
        return "inconclusive", short, 1.0
    if math.isnan(relative_shift):
        return "inconclusive", "baseline median is 0, so a relative shift is undefined", 1.0
    moved = (
        f"median {relative_shift:+.1%} (Hodges-Lehmann; Mann-Whitney p={e.p_two_sided:.3g}), "
        f"mean above the pooled p80 {e.tail.change:+.1%} (tail test p={e.tail.p_worse:.3g} "
        f"worse, {e.tail.p_better:.3g} better)"
    )
    for worse, outcome in ((True, "regression"), (False, "improvement")):
        sign = 1 if worse else -1
        loc, tail = _adjusted(e, worse)
        tests = ((loc, e.bad_shift, "median"), (tail, e.bad_tail_change, "tail"))
        passed = [
            (p_adj, which)
            for p_adj, size, which in tests
            if p_adj < fa and math.isfinite(size) and sign * size >= min_change
        ]
        if passed:
            p_adj, which = min(passed)
            verdict: Outcome = outcome  # type: ignore[assignment]
            return (
                verdict,
                (
                    f"{outcome} in the {which}: {moved}; false-alarm chance {p_adj:.2g} "
                    f"(limit {fa:.2g})"
                ),
                p_adj,
            )
    p_min = min(*_adjusted(e, True), *_adjusted(e, False))
    return "pass", f"{moved}: nothing beyond noise and {min_change:.1%}", p_min


def _short_reason(n_baseline: int, n_current: int, min_samples: int) -> str:
    short = [
        f"{side} has {n} samples, need {min_samples}"
        for side, n in (("baseline", n_baseline), ("current", n_current))
        if n < min_samples
    ]
    return "; ".join(short)
