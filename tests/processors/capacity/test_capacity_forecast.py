"""Forecasts on synthetic series with known trend, daily/weekly seasonality and seeded noise."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from otel_perf.processors.capacity.calibration import column_quantiles, factors, scores, widen
from otel_perf.processors.capacity.forecast import (
    Forecaster,
    calibrate,
    forecast,
    naive_lag,
    time_to_threshold,
)
from otel_perf.processors.capacity.seasonality import detect

INTERVAL_S = 3600.0
SLOPE = 0.01  # per hour


def truth(n: int) -> np.ndarray:
    t = np.arange(n)
    weekend = ((t // 24) % 7 >= 5).astype(float)
    return 20 + SLOPE * t + 3 * np.sin(2 * np.pi * t / 24) - 2 * weekend


def series(n: int, seed: int, sigma: float = 0.5) -> np.ndarray:
    return truth(n) + np.random.default_rng(seed).normal(0, sigma, n)


def noise(kind: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "normal":
        return rng.normal(0, 0.5, n)
    if kind == "heavy":  # Student t with 3 degrees of freedom: spikes
        return 0.4 * rng.standard_t(3, n)
    return rng.lognormal(0, 0.6, n) - np.exp(0.18)  # skewed, mean 0


def coverage(kind: str, seeds: range, level: float = 0.9) -> float:
    """Share of the next day inside the interval, from two origins of each seeded series."""
    hits, total = 0, 0
    for seed in seeds:
        x = truth(24 * 7 * 6) + noise(kind, 24 * 7 * 6, seed)
        for origin in (24 * 7 * 4, 24 * 7 * 5):
            fc = forecast(x[:origin], INTERVAL_S, 24, level=level, seed=seed)
            test = x[origin : origin + 24]
            hits += int(np.sum((test >= fc.lower) & (test <= fc.upper)))
            total += test.size
    return hits / total


@pytest.mark.parametrize(
    ("kind", "low", "high"), [("normal", 0.85, 0.95), ("heavy", 0.85, 0.95), ("skewed", 0.85, 0.97)]
)
def test_interval_covers_at_about_nominal_rate(kind: str, low: float, high: float) -> None:
    # 12 series × 2 origins × 24 h; the in-sample band alone covered 0.79 / 0.82 / 0.88 here
    assert low <= coverage(kind, range(12)) <= high


def test_lower_level_covers_about_half() -> None:
    assert 0.4 <= coverage("normal", range(6), level=0.5) <= 0.65


def factors_of(x: np.ndarray, horizon: int = 24) -> np.ndarray:
    seasons = tuple(detect(x, INTERVAL_S))
    return calibrate(x, seasons, naive_lag(x.size, INTERVAL_S, seasons), horizon, 0.9, 0)


def test_a_noisier_recent_regime_widens_the_band_out_of_sample() -> None:
    calm = truth(24 * 7 * 4) + noise("normal", 24 * 7 * 4, seed=1)
    stormy = calm.copy()
    stormy[-24 * 7 :] += np.random.default_rng(2).normal(0, 1.5, 24 * 7)  # 3× the noise
    assert float(np.mean(factors_of(calm))) < 1.4
    assert float(np.min(factors_of(stormy))) > 1.8
    # the forecast from the stormy history covers stormy days; the in-sample band would not
    future = truth(24 * 7 * 5)[-24 * 7 :] + np.random.default_rng(3).normal(0, 1.6, 24 * 7)
    fc = forecast(stormy, INTERVAL_S, 24 * 7)
    assert np.mean((future >= fc.lower) & (future <= fc.upper)) >= 0.8


def test_short_history_falls_back_to_the_in_sample_band() -> None:
    x = series(100, seed=8)  # too short for a calibration tail of 30+ origins
    np.testing.assert_array_equal(factors_of(x, horizon=12), np.ones(12))
    fc = forecast(x, INTERVAL_S, 150)
    width = fc.upper - fc.lower
    # steps past the 46 with 30+ in-sample errors grow by √h
    np.testing.assert_allclose(width[60:] / width[59], np.sqrt(np.arange(61, 151) / 60))


def test_factors_measure_how_much_wider_the_out_of_sample_errors_are() -> None:
    rng = np.random.default_rng(4)
    lo, hi = np.full(8, -1.645), np.full(8, 1.645)  # in-sample 90 % band of N(0, 1)
    k = factors(scores(rng.normal(0, 3.0, (500, 8)), lo, hi), 0.9, 10)
    assert k.shape == (10,) and np.all(np.abs(k - 3.0) < 0.4)
    calmer = scores(rng.normal(0, 0.5, (500, 8)), lo, hi)
    np.testing.assert_array_equal(factors(calmer, 0.9, 8), np.ones(8))  # never narrower
    assert np.all(np.abs(factors(calmer, 0.9, 8, min_factor=0.0) - 0.5) < 0.1)
    assert np.all(factors(np.full((10, 8), np.nan), 0.9, 8) == 1.0)  # nothing scored


def test_widen_keeps_each_side_of_a_skewed_band() -> None:
    lower, upper = widen(np.array([-1.0, -2.0]), np.array([3.0, 2.0]), np.array([2.0, 1.0]))
    np.testing.assert_array_equal(lower, [-3.0, -2.0])
    np.testing.assert_array_equal(upper, [5.0, 2.0])
    # an error on the band's edge scores 1, at its centre 0, twice as far out 2
    r = scores(np.array([[3.0, 0.0], [-1.0, 4.0]]), np.array([-1.0, -2.0]), np.array([3.0, 2.0]))
    np.testing.assert_array_equal(r, [[1.0, 0.0], [1.0, 2.0]])


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 40), st.integers(1, 6)),
        elements=st.one_of(st.floats(-1e6, 1e6), st.just(np.nan)),
    ),
    st.lists(st.floats(0, 1), min_size=1, max_size=4),
)
def test_column_quantiles_match_numpy(a: np.ndarray, q: list[float]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        expected = np.nanquantile(a, q, axis=0)
    np.testing.assert_allclose(column_quantiles(a, np.array(q)), expected, rtol=1e-9, atol=1e-6)


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
