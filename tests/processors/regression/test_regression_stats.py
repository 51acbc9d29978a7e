"""Known answers of the regression judge (stats.compare)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from otel_perf.processors.regression.stats import compare, hodges_lehmann

MU, SIGMA = math.log(100.0), 0.6  # latency in ms: median 100, p95 about 268
P95 = 100.0 * math.exp(SIGMA * 1.6448536)


def latencies(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.lognormal(MU, SIGMA, n)


def test_identical_distributions_pass() -> None:
    verdicts = [
        compare(latencies(rng, 1000), latencies(rng, 1000))
        for rng in (np.random.default_rng(seed) for seed in range(20))
    ]
    # binomial(20, 0.02): one false alarm in 20 is 27 % likely, two 5 % (seed 1 draws one)
    assert sum(v.outcome != "pass" for v in verdicts) <= 1
    assert sum(v.hl_low <= 0 <= v.hl_high for v in verdicts) >= 18


def test_false_alarms_stay_within_the_false_alarm_rate_without_a_size_gate() -> None:
    trials = 400
    significant = regressions = improvements = 0
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        v = compare(latencies(rng, 200), latencies(rng, 200), min_relative_change=0.0)
        significant += v.significant
        regressions += v.outcome == "regression"
        improvements += v.outcome == "improvement"
        assert v.certainty == pytest.approx(1 - v.p_adjusted)
    # binomial(400, 0.05): mean 20, sd 4.4 — reported, not deciding
    assert 8 <= significant <= 34
    # each direction at most 2 %: binomial(400, 0.02) has mean 8, sd 2.8
    assert regressions <= 17 and improvements <= 17


def test_size_gate_lowers_false_alarms() -> None:
    alarms = sum(
        compare(latencies(rng, 200), latencies(rng, 200)).outcome == "regression"
        for rng in (np.random.default_rng(seed) for seed in range(200))
    )
    assert alarms / 200 <= 0.05


def test_twenty_percent_p95_shift_is_a_regression_with_the_shift_in_the_interval() -> None:
    rng = np.random.default_rng(7)
    delta = 0.2 * P95  # a location shift: p95 and the true HL shift both move by delta
    verdict = compare(latencies(rng, 1000), latencies(rng, 1000) + delta)
    assert verdict.outcome == "regression"
    assert verdict.hl_low <= delta <= verdict.hl_high
    assert verdict.p95_delta > 0.1  # a sample p95 of 1,000 values is noisy
    assert verdict.cliffs_delta > 0.3
    assert "regression in the median: median +" in verdict.reason
    assert verdict.certainty > 0.999


def test_lower_latency_is_an_improvement_and_direction_down_flips_it() -> None:
    rng = np.random.default_rng(3)
    base, faster = latencies(rng, 500), latencies(rng, 500) * 0.7
    assert compare(base, faster).outcome == "improvement"
    assert compare(base, faster, direction="down").outcome == "regression"


def test_too_few_samples_is_inconclusive() -> None:
    rng = np.random.default_rng(0)
    verdict = compare(latencies(rng, 12), latencies(rng, 500) * 2)
    assert verdict.outcome == "inconclusive"
    assert verdict.reason == "baseline has 12 samples, need 30"
    assert compare([], [1.0, 2.0]).outcome == "inconclusive"


def test_zero_baseline_median_is_inconclusive() -> None:
    verdict = compare(np.zeros(50), np.ones(50))
    assert verdict.outcome == "inconclusive"
    assert "median is 0" in verdict.reason


def test_hodges_lehmann_exact_small_case() -> None:
    base = np.array([1.0, 2.0, 3.0])
    cur = np.array([2.0, 4.0, 6.0])
    # differences: 1 0 -1 / 3 2 1 / 5 4 3 -> median 2
    assert hodges_lehmann(base, cur)[0] == 2.0


def test_large_samples_subsample_pairs_reproducibly() -> None:
    rng = np.random.default_rng(5)
    base, cur = latencies(rng, 3000), latencies(rng, 3000) + 10.0
    first = hodges_lehmann(base, cur, max_pairs=200_000, seed=1)
    assert first == hodges_lehmann(base, cur, max_pairs=200_000, seed=1)
    exact = hodges_lehmann(base, cur, max_pairs=10**8)
    assert first[0] == pytest.approx(exact[0], abs=1.5)
    assert first[1] == pytest.approx(exact[1], abs=1.5)


def test_inputs_are_not_modified_and_nan_is_dropped() -> None:
    base = np.array([1.0, np.nan, *range(2, 40)])
    copy = base.copy()
    verdict = compare(base, base + 1)
    np.testing.assert_array_equal(base, copy)
    assert verdict.n_baseline == 39
    assert set(verdict.to_dict()) >= {"outcome", "reason", "p95_delta", "hl_low"}


def test_a_slower_tail_with_the_median_unchanged_is_a_regression() -> None:
    rng = np.random.default_rng(3)
    baseline = rng.lognormal(np.log(20), 0.4, 2000)
    current = rng.lognormal(np.log(20), 0.4, 2000)
    slow = current > np.quantile(current, 0.9)
    current[slow] *= 1.3  # the slowest tenth takes 30 % longer; the median does not move
    verdict = compare(baseline, current)
    assert verdict.outcome == "regression", verdict.reason
    assert verdict.tail_change > 0.05 and "regression in the tail" in verdict.reason


def tail_only(rng: np.random.Generator, n: int, p95_shift: float) -> np.ndarray:
    """Lognormal latencies whose values above the population p80 are stretched so that the
    population p95 moves by ``p95_shift`` while the median stays put."""
    x = latencies(rng, n)
    q80 = 100.0 * math.exp(SIGMA * 0.8416212)
    stretch = p95_shift * P95 / (P95 - q80)
    return x + stretch * np.clip(x - q80, 0.0, None)


def test_seeded_tail_only_twenty_percent_at_one_thousand_is_caught() -> None:
    caught = 0
    for seed in range(20):
        rng = np.random.default_rng([seed, 20])
        verdict = compare(latencies(rng, 1000), tail_only(rng, 1000, 0.20))
        caught += verdict.outcome == "regression"
    assert caught >= 17  # the benchmark measures ~90 % over 200 seeds
