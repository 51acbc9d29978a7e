"""Segment costs from prefix sums: a level, or a level and a slope, fitted in O(1) per segment.

For values ``y_t`` at positions ``t`` of a segment ``[s, e)`` of ``n = e - s`` points, with
``S_* = sum over the segment``:

* ``rss_level = S_yy - S_y^2 / n`` — residual sum of squares around the segment's mean;
* ``rss_linear = rss_level - (S_ty - S_t S_y / n)^2 / (S_tt - S_t^2 / n)`` — around its
  least-squares line (ordinary regression on ``t``);
* ``rss_curve`` — around its least-squares parabola (``a + b t + c t^2``, the 3x3 normal
  equations from the prefix sums of ``t^0..t^4`` and ``t^0..t^2 y``, solved for every segment
  at once);
* ``cost = min(rss_level, rss_linear + slope_penalty, rss_curve + slope_penalty +
  curve_penalty)``, the RSS in units of ``sigma^2``: a segment pays for a slope only when the
  slope explains more than ``slope_penalty`` noise variances, and for a bend only when it
  explains ``curve_penalty`` more. A steady trend is then one cheap segment, where a
  level-only cost (ruptures' ``l2``) would cut it into steps; a smooth acceleration (a p95
  that bends upward with traffic; on TCPD a fertility rate, CO2) is one segment instead of a
  chain of lines; a level shift still needs a new segment. ``curve_penalty = inf`` leaves the
  parabola out.

Columns are summed, each divided by its own ``sigma^2``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class SegmentCost:
    """Costs of segments of one window of ``(n, d)`` values (no NaN), scaled by ``sigma``."""

    def __init__(
        self,
        signal: FloatArray,
        sigma: FloatArray,
        slope_penalty: float,
        curve_penalty: float = math.inf,
    ) -> None:
        n = signal.shape[0]
        t = np.arange(n, dtype=np.float64)[:, None] - n / 2  # centred: sums stay well-scaled
        y = signal / sigma
        zero = np.zeros((1, signal.shape[1]))
        self._y = np.vstack([zero, np.cumsum(y, axis=0)])
        self._yy = np.vstack([zero, np.cumsum(y * y, axis=0)])
        self._ty = np.vstack([zero, np.cumsum(t * y, axis=0)])
        self._t = np.concatenate([[0.0], np.cumsum(t[:, 0])])
        self._tt = np.concatenate([[0.0], np.cumsum(t[:, 0] ** 2)])
        self.slope_penalty = slope_penalty
        self.curve_penalty = curve_penalty
        if math.isfinite(curve_penalty):
            u = (np.arange(n, dtype=np.float64) - n / 2) / max(n, 1)  # scaled: t^4 stays tame
            self._u = [np.concatenate([[0.0], np.cumsum(u**k)]) for k in range(5)]
            self._uy = [np.vstack([zero, np.cumsum(u[:, None] ** k * y, axis=0)]) for k in range(3)]

    def cost(self, starts: IntArray, ends: IntArray) -> FloatArray:
        """The cost of every segment ``[s, e)``, ``starts`` and ``ends`` broadcast together
        (each ``s < e``); the result has their broadcast shape."""
        n = (ends - starts).astype(np.float64)
        st = self._t[ends] - self._t[starts]
        spread = self._tt[ends] - self._tt[starts] - st * st / n
        flat = spread <= 0
        spread[flat] = 1.0  # no slope to fit: explains nothing
        total = np.zeros(np.broadcast(starts, ends).shape)
        for column in range(self._y.shape[1]):
            y, yy, ty = self._y[:, column], self._yy[:, column], self._ty[:, column]
            sy = y[ends] - y[starts]
            level = yy[ends] - yy[starts] - sy * sy / n
            explained = (ty[ends] - ty[starts] - st * sy / n) ** 2 / spread
            explained[flat] = 0.0
            best = np.minimum(level, level - explained + self.slope_penalty)
            if math.isfinite(self.curve_penalty):
                best = np.minimum(best, self._curve(starts, ends, column, yy))
            total += np.maximum(best, 0.0)
        return total

    def matrix(self, min_size: int) -> FloatArray:
        """``C[s, e]``: the cost of ``[s, e)`` for ``0 <= s < e <= n``; infinite for segments
        shorter than ``min_size`` (and for ``e <= s``). Only the segments long enough are
        computed (under half the matrix: the online detector's main cost)."""
        size = self._t.size
        starts, ends = _long_enough(size, max(min_size, 1))
        costs = np.full((size, size), np.inf)
        with np.errstate(divide="ignore", invalid="ignore"):
            costs[starts, ends] = self.cost(starts, ends)
        return costs

    def _curve(self, starts: IntArray, ends: IntArray, column: int, yy: FloatArray) -> FloatArray:
        """``rss_curve + slope_penalty + curve_penalty``; infinite where a parabola does not
        fit (fewer than 4 points). The normal equations' matrix is the Hankel matrix of the
        sums of ``u^0..u^4``; ``r' G^-1 r`` (the variance the parabola explains) comes from its
        adjugate, in closed form for every segment at once."""
        a, b, c, d, e = (u[ends] - u[starts] for u in self._u)
        r0, r1, r2 = (uy[ends, column] - uy[starts, column] for uy in self._uy)
        adj00, adj01, adj02 = c * e - d * d, c * d - b * e, b * d - c * c
        adj11, adj12, adj22 = a * e - c * c, b * c - a * d, a * c - b * b
        det = a * adj00 + b * adj01 + c * adj02
        quad = (
            adj00 * r0 * r0
            + adj11 * r1 * r1
            + adj22 * r2 * r2
            + 2 * (adj01 * r0 * r1 + adj02 * r0 * r2 + adj12 * r1 * r2)
        )
        fits = (a >= 4) & (det > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            rss = yy[ends] - yy[starts] - quad / np.where(fits, det, 1.0)
        penalty = self.slope_penalty + self.curve_penalty
        out: FloatArray = np.where(fits & np.isfinite(rss), rss + penalty, np.inf)
        return out


@lru_cache(maxsize=256)  # one per window length the online detector meets (<= 120)
def _long_enough(size: int, min_size: int) -> tuple[IntArray, IntArray]:
    """Every ``(s, e)`` with ``0 <= s`` and ``s + min_size <= e < size``, as two arrays."""
    starts, ends = np.triu_indices(size, k=min_size)
    starts.flags.writeable = ends.flags.writeable = False  # shared between calls
    return starts.astype(np.int64), ends.astype(np.int64)
