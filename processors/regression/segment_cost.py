"""Segment costs from prefix sums: a level, or a level and a slope, fitted in O(1) per segment.

For values ``y_t`` at positions ``t`` of a segment ``[s, e)`` of ``n = e - s`` points, with
``S_* = sum over the segment``:

* ``rss_level = S_yy - S_y^2 / n`` — residual sum of squares around the segment's mean;
* ``rss_linear = rss_level - (S_ty - S_t S_y / n)^2 / (S_tt - S_t^2 / n)`` — around its
  least-squares line (ordinary regression on ``t``);
* ``cost = min(rss_level / sigma^2, rss_linear / sigma^2 + slope_penalty)``: a segment pays for
  a slope only when the slope explains more than ``slope_penalty`` (in units of the noise
  variance). A steady trend is then one cheap segment, where a level-only cost (ruptures'
  ``l2``) would cut it into steps; a level shift still needs a new segment.

Columns are summed, each divided by its own ``sigma^2``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class SegmentCost:
    """Costs of segments of one window of ``(n, d)`` values (no NaN), scaled by ``sigma``."""

    def __init__(self, signal: FloatArray, sigma: FloatArray, slope_penalty: float) -> None:
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
            total += np.maximum(np.minimum(level, level - explained + self.slope_penalty), 0.0)
        return total

    def matrix(self, min_size: int) -> FloatArray:
        """``C[s, e]``: the cost of ``[s, e)`` for ``0 <= s < e <= n``; infinite for segments
        shorter than ``min_size`` (and for ``e <= s``)."""
        index = np.arange(self._t.size)
        starts, ends = index[:, None], index[None, :]
        too_short = ends - starts < min_size
        with np.errstate(divide="ignore", invalid="ignore"):
            costs = self.cost(starts, ends)
        costs[too_short] = np.inf
        return costs
