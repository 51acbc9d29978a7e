"""A declared change point in words a person can act on: what changed, from what to what, when.

Given the points of a series (``(index, time_s, value)``), where the current segment began
and the declared change ``index``:

* a line is fitted by least squares to the points before the change (since the previous one)
  and to those after; ``jump`` is the after-line minus the before-line at the change;
* ``kind`` is ``"level"`` when ``|jump|`` is at least twice the residual noise, else
  ``"slope"`` (a trend that turned); ``before_ms`` / ``after_ms`` are the two lines' values at
  the change (so a trend before a shift does not blur the levels), the slopes are per minute;
* **when**: the time of the first point of the new regime, and a likelihood interval of that
  position — every split of the same points whose two-segment cost (``segment_cost``, in
  noise variances) is within ``INTERVAL_COST`` of the best (about a 95 % interval for one
  change location) — as ``time_low_s`` .. ``time_high_s``;
* ``delay_points`` / ``delay_s``: how long after the change it was declared.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from otel_perf.processors.regression.changepoint import MIN_SIZE, SLOPE_PENALTY
from otel_perf.processors.regression.segment_cost import SegmentCost

INTERVAL_COST = 3.0
Points = list[tuple[int, float, float]]


def _line(index: npt.NDArray[np.float64], values: npt.NDArray[np.float64]) -> tuple[float, float]:
    """``(slope, intercept)``; a flat line through the median for fewer than 3 points."""
    if values.size < 3 or np.ptp(index) == 0:
        return 0.0, float(np.median(values))
    slope, intercept = np.polyfit(index, values, 1)
    return float(slope), float(intercept)


def describe_change(points: Points, segment_start: int, index: int, seen: int) -> dict[str, Any]:
    """The change at ``index`` (module docstring); ``points`` must include it."""
    i = np.array([p[0] for p in points], dtype=np.float64)
    t = np.array([p[1] for p in points])
    v = np.array([p[2] for p in points])
    before = (i >= segment_start) & (i < index)
    if before.sum() < 2:
        before = i < index
    after = i >= index
    (s0, c0), (s1, c1) = _line(i[before], v[before]), _line(i[after], v[after])
    residuals = np.concatenate([v[before] - (s0 * i[before] + c0), v[after] - (s1 * i[after] + c1)])
    noise = float(residuals.std()) if residuals.size > 2 else 0.0
    level_before, level_after = s0 * index + c0, s1 * index + c1
    jump = level_after - level_before
    step_s = float(np.median(np.diff(t))) if t.size > 1 else math.nan
    per_minute = 60 / step_s if step_s > 0 else math.nan
    low, high = _location_interval(i, v, before | after, index, max(noise, 1e-12))
    at = t[i == index]
    return {
        "index": index,
        "kind": "level" if abs(jump) >= 2 * noise else "slope",
        "time_s": float(at[0]) if at.size else None,
        "time_low_s": _time_at(i, t, low),
        "time_high_s": _time_at(i, t, high),
        "before_ms": level_before,
        "after_ms": level_after,
        "jump_ms": jump,
        "slope_before_ms_per_min": s0 * per_minute,
        "slope_after_ms_per_min": s1 * per_minute,
        "noise_ms": noise,
        "delay_points": seen - index,
        "delay_s": float(t[-1] - at[0]) if at.size else None,
    }


def _location_interval(
    i: npt.NDArray[np.float64],
    v: npt.NDArray[np.float64],
    used: npt.NDArray[np.bool_],
    index: int,
    noise: float,
) -> tuple[int, int]:
    values, idx = v[used], i[used]
    n = values.size
    splits = np.arange(MIN_SIZE, n - MIN_SIZE + 1, dtype=np.int64)
    if splits.size == 0:
        return index, index
    cost = SegmentCost(values[:, None], np.array([noise]), SLOPE_PENALTY)
    total = cost.cost(np.zeros_like(splits), splits) + cost.cost(splits, np.full_like(splits, n))
    near = splits[total - total.min() <= INTERVAL_COST]
    return int(idx[near.min()]), int(idx[near.max()])


def _time_at(i: npt.NDArray[np.float64], t: npt.NDArray[np.float64], index: int) -> float | None:
    at = t[i == index]
    return float(at[0]) if at.size else None
