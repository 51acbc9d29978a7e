"""Capacity forecasts: seasonal profile + damped smoothed level/slope, calibrated intervals.

With seasons found by :func:`~.seasonality.detect` (daily, weekly), the seasonal part ``s_t`` is
the sum of robust profiles: the median per phase of the detrended series (the weekly profile
after the daily one is removed). On the deseasonalised ``d_t = x_t − s_t``

    l_t = α d_t + (1 − α) l_{t−1}                 (level)
    b_t = β (l_t − l_{t−1}) + (1 − β) b_{t−1}      (slope)
    x̂_{t+h|t} = l_t + b_t ((1 − α)/α + Σ_{i=1..h} φ^i) + s_{t+h}

(both recursions are linear filters, so fitting is vectorised; ``(1 − α)/α`` steps is the lag of
the smoothed level behind a linear trend). The forecast is blended with the seasonal naive
``x_{t+h−m⌈h/m⌉}`` (m = a day) as ``λ x̂ + (1 − λ) x̂_naive``. ``(α, β, φ, λ)`` are picked from a
small grid by the mean absolute in-sample error at steps ``h ∈ {1, H/4, H/2, 3H/4, H}``, the
errors that matter for an ``H``-step forecast.

**Intervals.** The in-sample band at step ``h`` is ``x̂ + quantiles`` of the in-sample ``h``-step
errors ``x_{t+h} − x̂_{t+h|t}`` (empirical, so it follows skewed or heavy-tailed noise; steps with
fewer than ``MIN_ERRORS`` errors extrapolate the last one by ``√h``). Those errors are
optimistic: the profile and the parameters were fitted on the same data. So the band is
calibrated out of sample (:func:`calibrate`): the model is refitted on all but the last quarter
of the history, forecasts from every origin in that quarter are scored against the refit's own
in-sample band, and the band grows about its centre by the split-conformal factor
``k ≥ 1`` per geometric band of steps (:mod:`~.calibration`). A history with fewer than
``MIN_ERRORS`` origins in its last quarter keeps the in-sample band (``k = 1``).

>>> import numpy as np
>>> t = np.arange(24 * 28)
>>> x = 10 + 0.01 * t + np.sin(2 * np.pi * t / 24)
>>> fc = forecast(x, 3600.0, 24)
>>> fc.method, bool(abs(fc.mean[0] - (10 + 0.01 * 672 + 0.0)) < 0.2)
('seasonal+damped', True)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from otel_perf.processors.capacity.calibration import column_quantiles, factors, scores, widen
from otel_perf.processors.capacity.seasonality import (
    DAY_S,
    Season,
    _clean,
    candidate_lag,
    detect,
    detrend,
    phase_profile,
)

Array = NDArray[np.float64]
ALPHAS = (0.01, 0.03, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)
TRENDS = (
    (0.0, 0.0),
    (0.01, 0.98),
    (0.03, 0.95),
    (0.003, 0.995),
    (0.003, 1.0),
)  # (β, φ); β = 0: no slope
WEIGHTS = (1.0, 0.75, 0.5, 0.25, 0.0)  # λ: weight of the model against the seasonal naive
MIN_ERRORS = 30  # fewer h-step errors than this and the band is extrapolated by √h
CAL_TAIL = 4  # the last 1/CAL_TAIL of the history calibrates the interval out of sample


@dataclass(frozen=True)
class Forecast:
    """Point forecast and ``level`` interval for steps 1..horizon, ``interval_s`` apart."""

    mean: Array
    lower: Array
    upper: Array
    method: str
    seasons: tuple[Season, ...]
    interval_s: float
    level: float


def default_history(interval_s: float) -> int:
    """Samples kept for fitting: four weeks, at least 1,000 and at most 12,000."""
    return int(min(12_000, max(1_000, 28 * DAY_S / max(interval_s, 1e-9))))


def seasonal_component(x: Array, seasons: tuple[Season, ...], horizon: int) -> Array:
    """Sum of robust seasonal profiles over the fit window and the ``horizon`` after it."""
    total = np.zeros(x.size + horizon)
    rest = x.copy()
    for season in sorted(seasons, key=lambda s: s.lag):
        profile = phase_profile(detrend(rest, season.lag), season.lag, robust=True)
        tiled = np.resize(profile, x.size + horizon)
        total += tiled
        rest = rest - tiled[: x.size]
    return total


def smooth(d: Array, alpha: float, beta: float) -> tuple[Array, Array]:
    """Level ``l_t`` and slope ``b_t`` of the recursions in the module docstring."""
    from scipy.signal import lfilter  # first use: scipy is ~70 MB resident

    level = lfilter([alpha], [1.0, alpha - 1.0], d, zi=[(1.0 - alpha) * d[0]])[0]
    if beta == 0.0:
        return level, np.zeros_like(level)
    step = np.diff(level, prepend=level[0])
    # start the slope at the window's least-squares slope, not 0: with a small β a zero start
    # is still felt hundreds of steps later and biases every trend forecast low
    start = initial_slope(d)
    slope = lfilter([beta], [1.0, beta - 1.0], step, zi=[(1.0 - beta) * start])[0]
    return level, slope


def initial_slope(d: Array) -> float:
    """Least-squares slope of ``d`` per step (0 for fewer than 3 values)."""
    if d.size < 3:
        return 0.0
    t = np.arange(d.size, dtype=np.float64)
    t -= t.mean()
    return float(np.dot(t, d - d.mean()) / np.dot(t, t))


def damping(phi: float, horizon: int, alpha: float) -> Array:
    """``(1 − α)/α + Σ_{i=1..h} φ^i`` for h = 1..horizon.

    ``(1 − α)/α`` slope-steps is how far the smoothed level lags behind a straight line.
    """
    lag = (1.0 - alpha) / alpha
    return lag + np.cumsum(phi ** np.arange(1, horizon + 1, dtype=np.float64))


def step_errors(d: Array, level: Array, slope: Array, damp: Array, steps: Any) -> Array:
    """Rows t, columns h ∈ steps: ``d_{t+h} − (l_t + b_t Σφ^i)`` for every t with t+h in range."""
    steps = np.asarray(steps)
    h_max = int(steps.max())
    n_rows = d.size - h_max
    future = sliding_window_view(d[1:], h_max)[:n_rows][:, steps - 1]
    fitted = level[:n_rows, None] + slope[:n_rows, None] * damp[steps - 1][None, :]
    return np.asarray(future - fitted, dtype=np.float64)


def naive_errors(x: Array, lag: int, steps: Any, n_rows: int) -> Array:
    """Rows t, columns h: ``x_{t+h} − x_{t+h−m⌈h/m⌉}`` (seasonal naive, m = ``lag``)."""
    steps = np.asarray(steps)
    t = np.arange(n_rows)[:, None]
    back = np.maximum(t + steps - lag * np.ceil(steps / lag).astype(int), 0)
    return np.asarray(x[t + steps] - x[back], dtype=np.float64)


def choose(
    x: Array, d: Array, horizon: int, burn_in: int, lag: int
) -> tuple[float, float, float, float]:
    """The ``(α, β, φ, λ)`` with the least mean absolute error at a few steps up to ``horizon``."""
    steps = np.unique(np.linspace(1, horizon, 5).round().astype(int))
    naive = naive_errors(x, lag, steps, d.size - int(steps.max()))[burn_in:]
    best, best_err = (1.0, 0.0, 0.0, 1.0), np.inf
    for beta, phi in TRENDS:
        for alpha in ALPHAS:
            damp = damping(phi, horizon, alpha)
            level, slope = smooth(d, alpha, beta)
            model = step_errors(d, level, slope, damp, steps)[burn_in:]
            for weight in WEIGHTS:
                err = float(np.mean(np.abs(weight * model + (1 - weight) * naive)))
                if err < best_err:
                    best, best_err = (alpha, beta, phi, weight), err
    return best


def bands(errors: Array, level: float) -> tuple[Array, Array]:
    """Per-step (column) lower/upper ``level`` quantiles of the errors, NaNs ignored."""
    q = column_quantiles(errors, np.array([(1 - level) / 2, (1 + level) / 2]))
    return q[0], q[1]


def forecast(
    values: Any,
    interval_s: float,
    horizon: int,
    *,
    level: float = 0.9,
    seed: int = 0,
    max_history: int | None = None,
) -> Forecast:
    """Forecast ``horizon`` steps after ``values`` (sampled every ``interval_s`` seconds).

    Args:
        values: the series, oldest first (NaNs replaced by the median); not mutated.
        interval_s: sampling interval in seconds.
        horizon: number of steps to forecast.
        level: nominal coverage of the interval.
        seed: seeds the subsample of in-sample errors used when there are very many.
        max_history: samples used for fitting (default :func:`default_history`).
    """
    x = _clean(values)[-(max_history or default_history(interval_s)) :]
    if x.size < 3:
        raise ValueError(f"need at least 3 values, got {x.size}")
    seasons = tuple(detect(x, interval_s))
    lag = naive_lag(x.size, interval_s, seasons)
    fit = _fit(x, seasons, lag, horizon, horizon)
    mean = fit.weight * fit.model(horizon) + (1 - fit.weight) * fit.naive(horizon)
    lower, upper = _interval(fit, level, seed)
    lower, upper = widen(lower, upper, calibrate(x, seasons, lag, horizon, level, seed))
    method = ("seasonal+" if seasons else "") + ("damped" if fit.beta > 0 else "level")
    if fit.weight < 1:
        method += f"+{1 - fit.weight:g}naive"
    return Forecast(mean, mean + lower, mean + upper, method, seasons, interval_s, level)


def naive_lag(n: int, interval_s: float, seasons: tuple[Season, ...]) -> int:
    """Lag of the naive partner: a day if two fit, else the shortest season, else 1."""
    day = candidate_lag(DAY_S, interval_s)
    if day is not None and n >= 2 * day:
        return int(day)
    return int(min((s.lag for s in seasons), default=1))


@dataclass(frozen=True)
class _Fit:
    x: Array
    d: Array
    s: Array  # seasonal part over x and ``extend`` steps after it
    level_t: Array
    slope_t: Array
    damp: Array
    lag: int
    burn_in: int
    alpha: float
    beta: float
    weight: float

    def model(self, horizon: int) -> Array:
        """The smoothed model's forecast for steps 1..horizon after the last value."""
        n = self.x.size
        trend = self.level_t[-1] + self.slope_t[-1] * self.damp[:horizon]
        return np.asarray(trend + self.s[n : n + horizon], dtype=np.float64)

    def naive(self, horizon: int) -> Array:
        """The seasonal naive forecast for steps 1..horizon."""
        steps = np.arange(1, horizon + 1)
        n, lag = self.x.size, self.lag
        return self.x[n - lag * np.ceil(steps / lag).astype(int) + steps - 1]


def _fit(x: Array, seasons: tuple[Season, ...], lag: int, horizon: int, extend: int) -> _Fit:
    # parameters chosen for ``horizon`` steps; the seasonal part runs ``extend`` steps past x
    s = seasonal_component(x, seasons, extend)
    d = x - s[: x.size]
    h_fit = max(1, min(horizon, x.size // 3))
    burn_in = min(max([lag, *(s.lag for s in seasons)]), (x.size - h_fit) // 2)
    alpha, beta, phi, weight = choose(x, d, h_fit, burn_in, lag)
    level_t, slope_t = smooth(d, alpha, beta)
    damp = damping(phi, horizon, alpha)
    return _Fit(x, d, s, level_t, slope_t, damp, lag, burn_in, alpha, beta, weight)


def _errors(fit: _Fit, d: Array, x: Array, trend: tuple[Array, Array], rows: Any, h: int) -> Array:
    """Rows: origins ``rows``; columns: steps 1..h; the blended errors, NaN past the end."""
    rows = np.asarray(rows)
    level_t, slope_t = trend
    steps = np.arange(1, h + 1)
    at = rows[:, None] + steps[None, :]
    inside = at < d.size
    at = np.minimum(at, d.size - 1)
    back = np.maximum(at - fit.lag * np.ceil(steps / fit.lag).astype(int), 0)
    model = d[at] - (level_t[rows, None] + slope_t[rows, None] * fit.damp[None, :h])
    blend = fit.weight * model + (1 - fit.weight) * (x[at] - x[back])
    return np.asarray(np.where(inside, blend, np.nan), dtype=np.float64)


def _interval(fit: _Fit, level: float, seed: int) -> tuple[Array, Array]:
    horizon = fit.damp.size
    n = fit.d.size
    h_ok = max(1, min(horizon, n - fit.burn_in - MIN_ERRORS))
    # every step uses every origin it has (t + h < n); plenty: a seeded subsample is enough
    rows = np.arange(fit.burn_in, n)
    if rows.size > 4000:
        rows = rows[np.random.default_rng(seed).choice(rows.size, 4000, replace=False)]
    errors = _errors(fit, fit.d, fit.x, (fit.level_t, fit.slope_t), rows, h_ok)
    lo, hi = bands(errors, level)
    grow = np.sqrt(np.arange(h_ok + 1, horizon + 1) / h_ok)
    return np.concatenate([lo, lo[-1] * grow]), np.concatenate([hi, hi[-1] * grow])


def calibrate(
    x: Array, seasons: tuple[Season, ...], lag: int, horizon: int, level: float, seed: int
) -> Array:
    """Per-step factor by which the in-sample band must grow to cover ``level`` out of sample.

    The model is refitted (seasonal profile and parameters) on all but the last quarter of
    ``x``; from every origin in that quarter it forecasts what follows (the smoother is
    causal, so its state at an origin has seen nothing after it), and each error is scored
    against the refit's own in-sample band (:func:`~.calibration.scores`). The factor for a
    band of steps is the conformal ``level`` quantile of those scores
    (:func:`~.calibration.factors`); all ones when the last quarter has fewer than
    ``MIN_ERRORS`` origins.
    """
    tail = x.size // CAL_TAIL
    h_cal = min(horizon, tail - MIN_ERRORS)
    if h_cal < 1 or x.size - tail < 3:
        return np.ones(horizon)
    prefix = x[: x.size - tail]
    fit = _fit(prefix, seasons, lag, horizon, tail)
    d = x - fit.s
    trend = smooth(d, fit.alpha, fit.beta)
    errors = _errors(fit, d, x, trend, np.arange(prefix.size - 1, x.size - 1), h_cal)
    lo, hi = _interval(fit, level, seed)
    return factors(scores(errors, lo[:h_cal], hi[:h_cal]), level, horizon)


def time_to_threshold(
    fc: Forecast, threshold: float
) -> tuple[float | None, tuple[float | None, float | None]]:
    """When the forecast first reaches ``threshold``: ``(t_s, (earliest_s, latest_s))``.

    Offsets are seconds after the last observation (step ``h`` is ``h · interval_s``). The
    direction is upwards unless the first forecast is already above the threshold. ``earliest``
    is the first crossing of the near band (upper when rising), ``latest`` that of the far band;
    None means not within the horizon.
    """
    rising = fc.mean[0] < threshold
    near, far = (fc.upper, fc.lower) if rising else (fc.lower, fc.upper)
    return (
        _first(fc.mean, threshold, rising, fc.interval_s),
        (
            _first(near, threshold, rising, fc.interval_s),
            _first(far, threshold, rising, fc.interval_s),
        ),
    )


def _first(path: Array, threshold: float, rising: bool, interval_s: float) -> float | None:
    hit = np.flatnonzero(path >= threshold if rising else path <= threshold)
    return float((hit[0] + 1) * interval_s) if hit.size else None


class Forecaster:
    """River-style shell: ``learn_one(x)`` appends a sample, ``forecast(horizon)`` predicts.

    >>> f = Forecaster(interval_s=3600.0)
    >>> for i in range(100):
    ...     f.learn_one(float(i % 24))
    >>> f.forecast(2).mean.shape
    (2,)
    """

    def __init__(
        self,
        interval_s: float,
        *,
        level: float = 0.9,
        seed: int = 0,
        max_history: int | None = None,
    ) -> None:
        self.interval_s = interval_s
        self.level = level
        self.seed = seed
        self.history: deque[float] = deque(maxlen=max_history or default_history(interval_s))

    def learn_one(self, x: float) -> None:
        """Append one sample (the oldest falls off past ``max_history``)."""
        self.history.append(float(x))

    def forecast(self, horizon: int) -> Forecast:
        """Forecast the next ``horizon`` samples."""
        return forecast(
            np.fromiter(self.history, dtype=np.float64),
            self.interval_s,
            horizon,
            level=self.level,
            seed=self.seed,
        )


__all__ = [
    "Forecast",
    "Forecaster",
    "calibrate",
    "candidate_lag",
    "forecast",
    "time_to_threshold",
]
