"""Forecasts on synthetic series with known trend, daily/weekly seasonality and seeded noise."""

from __future__ import annotations

import numpy as np
import pytest

from otel_perf.processors.capacity.forecast import Forecaster, forecast, time_to_threshold

INTERVAL_S = 3600.0
SLOPE = 0.01  # per hour


def truth(n: int) -> np.ndarray:
    t = np.arange(n)
    weekend = ((t // 24) % 7 >= 5).astype(float)
    return 20 + SLOPE * t + 3 * np.sin(2 * np.pi * t / 24) - 2 * weekend


def series(n: int, seed: int, sigma: float = 0.5) -> np.ndarray:
    return truth(n) + np.random.default_rng(seed).normal(0, sigma, n)


def test_interval_covers_at_about_nominal_rate() -> None:
    hits, total = 0, 0
    for seed in range(8):
        x = series(24 * 7 * 6, seed)
        for origin in (24 * 7 * 4, 24 * 7 * 5):
            fc = forecast(x[:origin], INTERVAL_S, 24, level=0.9, seed=seed)
            test = x[origin : origin + 24]
            hits += int(np.sum((test >= fc.lower) & (test <= fc.upper)))
            total += test.size
    assert 0.80 <= hits / total <= 0.97


def test_mean_tracks_trend_and_seasons() -> None:
    x = series(24 * 7 * 5, seed=3)
    fc = forecast(x, INTERVAL_S, 48)
    expected = truth(x.size + 48)[x.size :]
    assert float(np.mean(np.abs(fc.mean - expected))) < 0.6
    assert {s.lag for s in fc.seasons} == {24, 168}
    assert np.all(fc.lower <= fc.mean) and np.all(fc.mean <= fc.upper)


def test_threshold_date_found_within_tolerance() -> None:
    # linear growth 0.01/h + daily swing; deseasonalised level reaches 30 at t = 1000 + 24·k
    x = series(24 * 7 * 5, seed=4, sigma=0.2)
    fc = forecast(x, INTERVAL_S, 24 * 7)
    offset_s, (earliest_s, latest_s) = time_to_threshold(fc, 30.0)
    assert offset_s is not None and earliest_s is not None
    # truth: first hour after the end where truth() ≥ 30
    future = truth(x.size + 24 * 7)[x.size :]
    true_s = float((np.flatnonzero(future >= 30.0)[0] + 1) * INTERVAL_S)
    assert abs(offset_s - true_s) <= 24 * 3600  # within a day
    assert earliest_s <= offset_s
    assert latest_s is None or latest_s >= offset_s


def test_flat_noise_has_no_trend_and_no_crossing() -> None:
    x = np.random.default_rng(5).normal(50, 1, 24 * 7 * 4)
    fc = forecast(x, INTERVAL_S, 24 * 7)
    assert fc.seasons == ()
    assert abs(fc.mean[-1] - fc.mean[0]) < 0.5
    assert abs(float(np.mean(fc.mean)) - 50) < 0.5
    assert time_to_threshold(fc, 60.0) == (None, (None, None))


def test_same_seed_same_output_and_input_not_mutated() -> None:
    x = series(24 * 7 * 6, seed=6)
    before = x.copy()
    a, b = forecast(x, INTERVAL_S, 24, seed=1), forecast(x, INTERVAL_S, 24, seed=1)
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.upper, b.upper)
    np.testing.assert_array_equal(x, before)


def test_forecaster_shell_matches_function() -> None:
    x = series(24 * 7 * 3, seed=7)
    f = Forecaster(INTERVAL_S)
    for v in x:
        f.learn_one(float(v))
    np.testing.assert_allclose(f.forecast(12).mean, forecast(x, INTERVAL_S, 12).mean)


def test_short_series() -> None:
    fc = forecast([1.0, 2.0, 3.0, 4.0, 5.0], 60.0, 3)
    assert fc.mean.shape == fc.lower.shape == fc.upper.shape == (3,)
    with pytest.raises(ValueError):
        forecast([1.0], 60.0, 3)
