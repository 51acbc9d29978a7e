"""One resource's analysis: forecast, threshold crossings, seasons, peaks, trend, right-sizing.

Pure: takes the history (a :class:`~.history.Series`), ``now`` and the settings; returns an
:class:`Analysis` the processor caches, renders and turns into findings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from otel_perf.processors.capacity.forecast import Forecast, forecast, time_to_threshold
from otel_perf.processors.capacity.history import Series
from otel_perf.processors.capacity.rightsizing import Recommendation, recommend
from otel_perf.processors.capacity.seasonality import DAY_S, Peaks, peaks

NS = 1_000_000_000
Array = NDArray[np.float64]


@dataclass(frozen=True)
class Threshold:
    """A level whose crossing is forecast, and how it was set (``70%`` of capacity or absolute)."""

    value: float
    label: str


@dataclass(frozen=True)
class Crossing:
    """When the forecast reaches a threshold (epoch ns), with the interval's earliest/latest."""

    threshold: Threshold
    at_ns: int | None
    earliest_ns: int | None
    latest_ns: int | None
    now_ns: int

    @property
    def crosses(self) -> bool:
        return self.at_ns is not None

    @property
    def days_until(self) -> float | None:
        if self.at_ns is None:
            return None
        return max(0.0, (self.at_ns - self.now_ns) / NS / DAY_S)

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold.value,
            "label": self.threshold.label,
            "crosses": self.crosses,
            "at": iso(self.at_ns),
            "earliest": iso(self.earliest_ns),
            "latest": iso(self.latest_ns),
            "days_until": self.days_until,
        }


@dataclass(frozen=True)
class Inputs:
    """What the analysis needs besides the history."""

    thresholds: tuple[Threshold, ...]
    forecast_window_s: float
    min_history_s: float
    level: float
    timezone: str
    to_absolute: float | None  # multiplier to cores/bytes for right-sizing; None: n/a
    sizing_unit: str | None  # the unit right-sizing is in (1, {cpu}, By); None: not sized
    use_peaks_for_sizing: bool  # memory: size on bucket maxima, like VPA's memory peaks
    request: float | None
    limit: float | None
    margin: float
    percentiles: tuple[float, float, float]  # lower, target, upper


@dataclass(frozen=True)
class Analysis:
    """The latest analysis of one resource."""

    made_ns: int
    interval_s: float
    samples: int
    history_s: float
    current: float | None
    p90: float | None
    origin_ns: int = 0  # start of the last bucket: forecast step h is at origin + h·interval
    forecast: Forecast | None = None
    reason: str = ""
    crossings: tuple[Crossing, ...] = ()
    peaks: Peaks | None = None
    trend_per_day: float = 0.0
    rightsizing: Recommendation | None = None  # in the series' own unit (sizing_unit)
    absolute_sizing: Recommendation | None = None  # in cores or bytes, when they are known

    def step_ns(self, step: int) -> int:
        return self.origin_ns + int(step * self.interval_s * NS)


def regular(series: Series) -> tuple[Array, Array, Array]:
    """Epoch seconds, means and maxima on a gap-free grid (missing buckets are NaN)."""
    step = series.resolution_s * NS
    first, last = series.starts_ns[0], series.starts_ns[-1]
    n = (last - first) // step + 1
    means, maxes = np.full(n, np.nan), np.full(n, np.nan)
    idx = (np.asarray(series.starts_ns, dtype=np.int64) - first) // step
    means[idx] = series.means()
    maxes[idx] = series.maxes()
    times = (first + np.arange(n, dtype=np.float64) * step) / NS
    return times, means, maxes


def analyse(series: Series, now_ns: int, inputs: Inputs) -> Analysis:
    """Forecast ``series`` over the window and derive everything shown for the resource."""
    interval_s = float(series.resolution_s)
    if not series.starts_ns:
        return Analysis(now_ns, interval_s, 0, 0.0, None, None, reason="no history")
    times, means, maxes = regular(series)
    history_s = float(times[-1] - times[0]) + interval_s
    finite = means[np.isfinite(means)]
    sizing = _rightsizing(maxes if inputs.use_peaks_for_sizing else means, history_s, inputs)
    base = Analysis(
        now_ns,
        interval_s,
        int(finite.size),
        history_s,
        float(series.buckets[-1].last),
        float(np.quantile(finite, 0.9)),
        origin_ns=series.starts_ns[-1],
        peaks=peaks(times, means, inputs.timezone),
        rightsizing=sizing,
        absolute_sizing=None
        if sizing is None or inputs.to_absolute is None
        else sizing.scaled(inputs.to_absolute),
    )
    if history_s < inputs.min_history_s or finite.size < 3:
        return _with(
            base,
            reason=f"history {history_s / 3600:.1f}h < min_history {inputs.min_history_s / 3600:g}h"
            if finite.size >= 3
            else f"{finite.size} buckets: need at least 3",
        )
    horizon = max(1, math.ceil(inputs.forecast_window_s / interval_s))
    fc = forecast(means, interval_s, horizon, level=inputs.level)
    crossings = tuple(_crossing(fc, t, base.origin_ns, now_ns) for t in inputs.thresholds)
    return _with(base, forecast=fc, crossings=crossings, trend_per_day=trend_per_day(fc))


def _with(analysis: Analysis, **changes: Any) -> Analysis:
    return replace(analysis, **changes)


def _rightsizing(samples: Array, history_s: float, inputs: Inputs) -> Recommendation | None:
    """In the series' own unit: the request and limit (cores, bytes) divided by the factor,
    so a utilization series is sized as a utilization and compared as one."""
    if inputs.sizing_unit is None or not np.isfinite(samples).any():
        return None
    factor = inputs.to_absolute

    def native(amount: float | None) -> float | None:
        return None if amount is None or not factor else amount / factor

    low_q, target_q, high_q = inputs.percentiles
    return recommend(
        samples,
        history_s / DAY_S,
        margin=inputs.margin,
        target_q=target_q,
        lower_q=low_q,
        upper_q=high_q,
        request=native(inputs.request),
        limit=native(inputs.limit),
    )


def _crossing(fc: Forecast, threshold: Threshold, origin_ns: int, now_ns: int) -> Crossing:
    """Upward crossings only: a forecast starting above the threshold has crossed at step 1."""
    if fc.mean[0] >= threshold.value:
        at = origin_ns + int(fc.interval_s * NS)
        return Crossing(threshold, at, at, at, now_ns)
    t_s, (earliest_s, latest_s) = time_to_threshold(fc, threshold.value)

    def when(offset_s: float | None) -> int | None:
        return None if offset_s is None else origin_ns + int(offset_s * NS)

    return Crossing(threshold, when(t_s), when(earliest_s), when(latest_s), now_ns)


def trend_per_day(fc: Forecast) -> float:
    """Change per day of the forecast mean, from its first day's average to its last day's
    (whole days cancel the daily season; shorter forecasts use the end points)."""
    per_day = max(1, round(DAY_S / fc.interval_s))
    days = fc.mean.size * fc.interval_s / DAY_S
    if days >= 2:
        first, last = fc.mean[:per_day].mean(), fc.mean[-per_day:].mean()
        return float((last - first) / (days - 1))
    return float((fc.mean[-1] - fc.mean[0]) / max(days, 1e-9))


def iso(t_ns: int | None) -> str | None:
    if t_ns is None:
        return None
    return datetime.fromtimestamp(t_ns / NS, UTC).isoformat().replace("+00:00", "Z")
