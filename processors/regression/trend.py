"""Slow drift of a series: Theil-Sen slope with its interval, Mann-Kendall significance.

For points ``(t_i, x_i)`` sorted by time:

* **Theil-Sen** ``slope = median_{i<j, t_i != t_j} (x_j - x_i) / (t_j - t_i)`` and its
  ``1 - alpha`` interval, from :func:`scipy.stats.theilslopes` (Sen 1968). Reported per second,
  per day (``* 86,400``) and per week (``* 604,800``).
* **Mann-Kendall**, implemented here: ``S = sum_{i<j} sgn(x_j - x_i) sgn(t_j - t_i)``,
  ``Var(S) = [n(n-1)(2n+5) - sum_g t_g(t_g-1)(2t_g+5)] / 18`` over the groups of ``t_g`` tied
  values, ``Z = (S - sgn(S)) / sqrt(Var(S))`` (continuity correction), two-sided
  ``p = 2 (1 - Phi(|Z|))``. Ties in time add nothing to ``S``; the variance assumes none.
* **Direction**: ``increasing`` if ``p < alpha`` and ``S > 0``, ``decreasing`` if ``p < alpha``
  and ``S < 0``, else ``no trend`` (also with fewer than 3 points or a single time value).

``S`` costs ``O(n^2)`` time and ``O(n)`` memory: meant for a few thousand points.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

DAY_S = 86_400.0
WEEK_S = 7 * DAY_S
TrendDirection = Literal["increasing", "decreasing", "no trend"]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Trend:
    """Slope (value units per second, day and week) and its significance."""

    direction: TrendDirection
    n: int
    alpha: float
    slope_per_s: float
    slope_low_per_s: float
    slope_high_per_s: float
    intercept: float
    mk_s: float
    mk_z: float
    p_value: float

    @property
    def slope_per_day(self) -> float:
        """Theil-Sen slope in value units per day."""
        return self.slope_per_s * DAY_S

    @property
    def slope_per_week(self) -> float:
        """Theil-Sen slope in value units per week."""
        return self.slope_per_s * WEEK_S

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field plus the per-day and per-week slopes and bounds."""
        out = asdict(self)
        for unit, scale in (("day", DAY_S), ("week", WEEK_S)):
            out[f"slope_per_{unit}"] = self.slope_per_s * scale
            out[f"slope_low_per_{unit}"] = self.slope_low_per_s * scale
            out[f"slope_high_per_{unit}"] = self.slope_high_per_s * scale
        return out


def mann_kendall(times_s: FloatArray, values: FloatArray) -> tuple[float, float, float]:
    """``(S, Z, p)`` of the Mann-Kendall test (formulas in the module docstring)."""
    n = values.size
    s = 0.0
    for i in range(n - 1):  # row by row keeps memory O(n)
        s += float(
            np.sum(np.sign(values[i + 1 :] - values[i]) * np.sign(times_s[i + 1 :] - times_s[i]))
        )
    _, counts = np.unique(values, return_counts=True)
    ties = float(np.sum(counts * (counts - 1) * (2 * counts + 5)))
    var = (n * (n - 1) * (2 * n + 5) - ties) / 18
    if var <= 0:
        return s, 0.0, 1.0
    z = (s - math.copysign(1.0, s)) / math.sqrt(var) if s != 0 else 0.0
    from scipy import stats  # first use: scipy is ~70 MB resident

    return s, z, float(2 * stats.norm.sf(abs(z)))


def trend(times_s: npt.ArrayLike, values: npt.ArrayLike, *, alpha: float = 0.05) -> Trend:
    """Theil-Sen slope and Mann-Kendall test of ``values`` against ``times_s``.

    Args:
        times_s: Timestamps in seconds (any origin); need not be sorted.
        values: One value per timestamp; pairs with a non-finite member are dropped.
        alpha: Significance level of the test and ``1 - alpha`` coverage of the slope interval.

    Returns:
        The :class:`Trend`; inputs are not modified.
    """
    t = np.asarray(times_s, dtype=np.float64).ravel()
    x = np.asarray(values, dtype=np.float64).ravel()
    keep = np.isfinite(t) & np.isfinite(x)
    order = np.argsort(t[keep], kind="stable")
    t, x = t[keep][order], x[keep][order]
    if x.size < 3 or t[0] == t[-1]:
        nan = math.nan
        return Trend("no trend", int(x.size), alpha, nan, nan, nan, nan, 0.0, 0.0, 1.0)
    from scipy import stats  # first use: scipy is ~70 MB resident

    fit = stats.theilslopes(x, t, alpha=1 - alpha)
    s, z, p = mann_kendall(t, x)
    direction: TrendDirection = "no trend"
    if p < alpha:
        direction = "increasing" if s > 0 else "decreasing"
    return Trend(
        direction,
        int(x.size),
        alpha,
        float(fit.slope),
        float(fit.low_slope),
        float(fit.high_slope),
        float(fit.intercept),
        s,
        z,
        p,
    )
