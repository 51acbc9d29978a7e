"""Seasonal periods of a regularly sampled series, their strength, and peak hours/days.

For a candidate period of ``lag`` samples the series is detrended with a centred moving
average of ``lag`` samples, ``r = x − MA_lag(x)``; the seasonal profile ``S`` is the mean of
``r`` per phase ``i mod lag`` and ``R = r − S`` the remainder. Strength is

    F = max(0, 1 − Var(R) · k/(k − 1) / Var(r)),   k = n / lag (cycles seen)

the usual ``1 − Var(remainder)/Var(seasonal + remainder)`` with the remainder's variance
corrected for the ``1/k`` of noise a per-phase mean absorbs, so white noise scores about 0.
The weekly candidate is measured after the daily profile is removed, so a purely daily
series has no weekly season.

>>> import numpy as np
>>> t = np.arange(24 * 21)
>>> x = np.sin(2 * np.pi * t / 24) + np.random.default_rng(0).normal(0, 0.1, t.size)
>>> [(s.lag, round(s.strength, 1)) for s in detect(x, 3600.0)]
[(24, 1.0)]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
DAY_S = 86_400.0
WEEK_S = 7 * DAY_S
CANDIDATES_S = (DAY_S, WEEK_S)


@dataclass(frozen=True)
class Season:
    """A detected seasonal period: length in seconds and samples, and strength in [0, 1]."""

    period_s: float
    lag: int
    strength: float


@dataclass(frozen=True)
class Peaks:
    """Mean value per hour of day and per weekday (0 = Monday), and the highest of each."""

    hour_means: Array
    weekday_means: Array
    peak_hours: list[int]
    peak_weekdays: list[int]


def candidate_lag(period_s: float, interval_s: float) -> int | None:
    """Samples per period if the sampling interval divides it (within 1 %), else None."""
    if interval_s <= 0:
        return None
    lag = period_s / interval_s
    if lag < 2 or abs(lag - round(lag)) > 0.01 * lag:
        return None
    return int(round(lag))


def phase_profile(r: Array, lag: int, *, robust: bool = False) -> Array:
    """Mean (or median if ``robust``) of ``r`` per phase ``i mod lag``; NaN-free."""
    pad = (-r.size) % lag
    grid = np.concatenate([r, np.full(pad, np.nan)]).reshape(-1, lag)
    profile = np.nanmedian(grid, axis=0) if robust else np.nanmean(grid, axis=0)
    profile = np.nan_to_num(profile - np.nanmean(profile))
    return np.asarray(profile, dtype=np.float64)


def detrend(x: Array, lag: int) -> Array:
    """``x − MA_lag(x)``: the centred moving average removes a season of ``lag`` samples."""
    from scipy.ndimage import uniform_filter1d  # first use: scipy is ~70 MB resident

    return np.asarray(x - uniform_filter1d(x, size=lag, mode="nearest"), dtype=np.float64)


def strength(r: Array, lag: int) -> tuple[float, Array]:
    """Bias-corrected seasonal strength of ``r`` at ``lag`` and the profile tiled over ``r``."""
    tiled = np.resize(phase_profile(r, lag), r.size)
    k = r.size / lag
    var_r = float(np.var(r))
    if var_r <= 0 or k <= 1:
        return 0.0, tiled
    var_rem = float(np.var(r - tiled)) * k / (k - 1)
    return max(0.0, 1.0 - var_rem / var_r), tiled


def detect(
    values: Any, interval_s: float, *, min_strength: float = 0.2, min_cycles: float = 2.5
) -> list[Season]:
    """Daily and weekly seasons of ``values`` (sampled every ``interval_s``), strongest first.

    Args:
        values: the series, oldest first; NaNs are replaced by the median.
        interval_s: the sampling interval in seconds.
        min_strength: a season weaker than this is not reported.
        min_cycles: a period needs this many cycles in the data to be considered.
    """
    x = _clean(values)
    found: list[Season] = []
    daily_tiled = np.zeros_like(x)
    for period_s in CANDIDATES_S:
        lag = candidate_lag(period_s, interval_s)
        if lag is None or x.size < min_cycles * lag:
            continue
        r = detrend(x, lag)
        if period_s == WEEK_S and found:
            # measure what the week adds beyond the daily shape
            r = r - daily_tiled
        f, tiled = strength(r, lag)
        if f >= min_strength:
            found.append(Season(period_s, lag, f))
            if period_s == DAY_S:
                daily_tiled = tiled
    return sorted(found, key=lambda s: -s.strength)


def peaks(
    times_s: Any, values: Any, tz: str = "UTC", *, top_hours: int = 3, top_weekdays: int = 1
) -> Peaks:
    """Hours of day and weekdays with the highest mean value, in time zone ``tz``.

    Args:
        times_s: epoch seconds of each value.
        values: the series.
        tz: IANA time zone name for the local hour and weekday.
        top_hours: how many peak hours to return.
        top_weekdays: how many peak weekdays to return.
    """
    zone = ZoneInfo(tz)
    local = [datetime.fromtimestamp(float(t), zone) for t in np.asarray(times_s)]
    x = np.asarray(values, dtype=np.float64)
    hours = np.array([d.hour for d in local])
    days = np.array([d.weekday() for d in local])
    hour_means = _group_means(x, hours, 24)
    weekday_means = _group_means(x, days, 7)
    return Peaks(
        hour_means,
        weekday_means,
        _top(hour_means, top_hours),
        _top(weekday_means, top_weekdays),
    )


def _group_means(x: Array, group: NDArray[np.int_], n: int) -> Array:
    ok = np.isfinite(x)
    sums = np.bincount(group[ok], weights=x[ok], minlength=n)
    counts = np.bincount(group[ok], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.where(counts > 0, sums / np.maximum(counts, 1), np.nan))


def _top(means: Array, k: int) -> list[int]:
    order = np.argsort(np.where(np.isnan(means), -np.inf, -means), kind="stable")
    return [int(i) for i in order[:k] if not np.isnan(means[i])]


def _clean(values: Any) -> Array:
    x = np.array(values, dtype=np.float64)
    bad = ~np.isfinite(x)
    if bad.any():
        x[bad] = np.nanmedian(x) if (~bad).any() else 0.0
    return x
