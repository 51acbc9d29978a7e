"""Seasonality detection and peak hours/days on synthetic series."""

from __future__ import annotations

import numpy as np
import pytest

from otel_perf.processors.capacity.seasonality import DAY_S, WEEK_S, detect, peaks

INTERVAL_S = 3600.0


def synthetic(weeks: int, *, daily: float, weekly: float, seed: int) -> np.ndarray:
    t = np.arange(int(weeks * WEEK_S / INTERVAL_S))
    weekend = ((t // 24) % 7 >= 5).astype(float)
    noise = np.random.default_rng(seed).normal(0, 0.3, t.size)
    return 5 + daily * np.sin(2 * np.pi * t / 24) - weekly * weekend + noise


@pytest.mark.parametrize("seed", range(3))
def test_finds_daily_and_weekly(seed: int) -> None:
    seasons = {s.period_s: s for s in detect(synthetic(6, daily=2, weekly=1.5, seed=seed), 3600)}
    assert set(seasons) == {DAY_S, WEEK_S}
    assert seasons[DAY_S].lag == 24 and seasons[WEEK_S].lag == 168
    assert seasons[DAY_S].strength > 0.8 and seasons[WEEK_S].strength > 0.6


def test_daily_only_has_no_weekly() -> None:
    seasons = detect(synthetic(6, daily=2, weekly=0, seed=1), INTERVAL_S)
    assert [s.period_s for s in seasons] == [DAY_S]


@pytest.mark.parametrize("seed", range(5))
def test_noise_has_no_season(seed: int) -> None:
    rng = np.random.default_rng(seed)
    assert detect(rng.normal(size=24 * 7 * 6), INTERVAL_S) == []
    assert detect(rng.normal(size=288 * 21), 300.0) == []


def test_interval_that_does_not_divide_a_day() -> None:
    assert detect(np.sin(np.arange(5000) / 3), 7.0 * 3600 / 3) == []


def test_too_short_for_a_week() -> None:
    seasons = detect(synthetic(1, daily=2, weekly=1.5, seed=0), INTERVAL_S)
    assert [s.period_s for s in seasons] == [DAY_S]


def test_input_not_mutated() -> None:
    x = synthetic(3, daily=2, weekly=0, seed=0)
    x[5] = np.nan
    before = x.copy()
    detect(x, INTERVAL_S)
    np.testing.assert_array_equal(x, before)


def test_peaks_hours_and_weekdays() -> None:
    # 2024-01-01 was a Monday; load peaks at 14:00 UTC and on Wednesdays
    start_s = 1_704_067_200.0
    t = np.arange(24 * 28)
    hour, day = t % 24, (t // 24) % 7
    values = np.where(hour == 14, 10.0, 1.0) + np.where(day == 2, 3.0, 0.0)
    p = peaks(start_s + t * INTERVAL_S, values)
    assert p.peak_hours[0] == 14 and p.peak_weekdays == [2]
    assert p.hour_means.shape == (24,) and p.weekday_means.shape == (7,)
    # in New York (UTC−5 in January) the same peak is at 9:00
    assert peaks(start_s + t * INTERVAL_S, values, tz="America/New_York").peak_hours[0] == 9
