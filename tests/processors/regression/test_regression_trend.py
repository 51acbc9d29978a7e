"""Theil-Sen and Mann-Kendall on known trends and on noise."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from otel_perf.processors.regression.trend import DAY_S, mann_kendall, trend

HOURS_30_DAYS = np.arange(0.0, 30 * DAY_S, 3600.0)


def test_linear_trend_with_noise() -> None:
    rng = np.random.default_rng(0)
    values = 100 + 2.0 * HOURS_30_DAYS / DAY_S + rng.normal(0, 5, HOURS_30_DAYS.size)
    fit = trend(HOURS_30_DAYS, values)
    assert fit.direction == "increasing"
    assert fit.slope_per_day == pytest.approx(2.0, rel=0.05)
    assert fit.slope_per_week == pytest.approx(14.0, rel=0.05)
    assert fit.slope_low_per_s * DAY_S <= 2.0 <= fit.slope_high_per_s * DAY_S
    assert fit.to_dict()["slope_per_week"] == pytest.approx(fit.slope_per_week)


def test_decreasing_trend() -> None:
    rng = np.random.default_rng(1)
    values = 50 - 1.0 * HOURS_30_DAYS / DAY_S + rng.normal(0, 5, HOURS_30_DAYS.size)
    assert trend(HOURS_30_DAYS, values).direction == "decreasing"


def test_pure_noise_rarely_trends() -> None:
    t = np.arange(200.0) * 60
    found = [
        trend(t, np.random.default_rng(seed).normal(0, 1, t.size)).direction != "no trend"
        for seed in range(200)
    ]
    assert sum(found) <= 20  # alpha = 0.05: mean 10, sd 3.1


def test_mann_kendall_matches_kendall_tau_with_ties() -> None:
    rng = np.random.default_rng(2)
    t = np.arange(60.0)
    x = rng.integers(0, 6, t.size).astype(float) + 0.05 * t
    s, z, p = mann_kendall(t, x)
    tau = stats.kendalltau(t, x)
    assert np.sign(s) == np.sign(tau.statistic)
    assert p == pytest.approx(tau.pvalue, abs=0.01)  # differs only by the continuity correction


def test_mann_kendall_small_exact_s() -> None:
    s, _, _ = mann_kendall(np.arange(4.0), np.array([1.0, 3.0, 2.0, 4.0]))
    assert s == 4.0  # +1 +1 +1 -1 +1 +1


def test_too_few_points_and_unsorted_input() -> None:
    assert trend([0.0, 1.0], [1.0, 2.0]).direction == "no trend"
    t = np.array([3.0, 1.0, 2.0, 0.0, 4.0, 5.0, 6.0, 7.0])
    assert trend(t, 10 * t).slope_per_s == pytest.approx(10.0)
