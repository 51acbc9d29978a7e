"""Change points of a performance series: penalised optimal partitioning that knows a trend.

:func:`detect` segments a whole series; :class:`ChangePointDetector` runs it on the points
since the last change (at most ``window``) as they arrive and declares each change once.

Method, on ``x`` of shape ``(n, d)``:

1. Missing values (NaN) are filled by linear interpolation over the index (the nearest
   value at the ends), so every index keeps its place.
2. Noise scale per column, robust to a trend: ``sigma`` = the standard deviation of the
   residuals around the column's least-squares line (a constant column falls back to its
   differences, then to 1). A trend does not count as noise; a level shift does, which makes
   the detector conservative on a window that holds a change — and conservative wins on
   TCPD: ``1.4826 MAD(diff x) / sqrt(2)`` (noise from differences only) scored F1 0.65
   online against 0.77 for this, a random walk's small steps turning every wander into a
   change; the MAD of the residuals instead of their deviation scored within 0.01.
3. Segment cost (:mod:`segment_cost`): ``min(level RSS, line RSS + slope_penalty)`` in units of
   ``sigma^2`` — a trend is one segment, a level shift (or a sharp turn) is two.
4. Optimal partitioning (the exact search PELT prunes; Jackson et al. 2005, Killick et al.
   2012) minimises ``sum cost(segment) + beta * (number of change points)``, every segment at
   least ``min_size`` points, ``beta = penalty * d * ln n``: a BIC-like penalty that grows with
   the data. ruptures' PELT takes the same shape but calls a Python cost per pair of indices
   (~100x slower here); this one computes the whole cost matrix in one numpy call.

The defaults (``PENALTY``, ``SLOPE_PENALTY``, ``MIN_SIZE``, ``DELAY``) were chosen by
leave-one-series-out on the TCPD development set (``benchmarks/tcpd.py``, the regression
README has the figures). A change point is the index of the first point of a new segment
(TCPDBench's convention; 0 is never returned).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from otel_perf.processors.regression.segment_cost import SegmentCost

FloatArray = npt.NDArray[np.float64]
PENALTY = 5.0
SLOPE_PENALTY = 8.0
CURVE_PENALTY = 12.0
MIN_SIZE = 5
DELAY = 10
CONFIRM = 3
EVERY = 5
WINDOW = 120


def _fill_missing(column: FloatArray) -> FloatArray:
    known = np.isfinite(column)
    if known.all():
        return column
    if not known.any():
        return np.zeros_like(column)
    index = np.arange(column.size)
    return np.interp(index, index[known], column[known])


def noise_scale(column: FloatArray) -> float:
    """Standard deviation around the least-squares line; else of the differences; else 1."""
    index = np.arange(column.size, dtype=np.float64)
    tiny = 1e-9 * max(1.0, float(np.abs(column).max(initial=0.0)))  # rounding, not noise
    if column.size >= 3:  # the least-squares line in closed form (polyfit's lstsq costs ~10x)
        centred = index - index.mean()
        slope = float(centred @ (column - column.mean())) / float(centred @ centred)
        spread = float((column - column.mean() - slope * centred).std())
        if spread > tiny:
            return spread
    diffs = np.diff(column)
    spread = float(diffs.std()) / math.sqrt(2) if diffs.size else 0.0
    return spread if spread > tiny else 1.0


def _as_signal(values: npt.ArrayLike) -> FloatArray:
    signal = np.asarray(values, dtype=np.float64)
    signal = signal.reshape(signal.shape[0], -1) if signal.ndim != 2 else signal
    return np.column_stack([_fill_missing(col) for col in signal.T])


def _partition(cost: SegmentCost, n: int, beta: float, min_size: int) -> list[int]:
    """Optimal partitioning (Jackson et al. 2005): ``best[e] = min_s best[s] + C[s, e] + beta``
    over every start, the cost matrix computed in one numpy call."""
    by_end = np.ascontiguousarray(cost.matrix(min_size).T)  # a row per end: no strided reads
    best = np.full(n + 1, math.inf)
    best[0] = -beta
    last = np.zeros(n + 1, dtype=np.int64)
    for end in range(min_size, n + 1):
        totals = best[: end - min_size + 1] + by_end[end, : end - min_size + 1]
        i = int(totals.argmin())
        best[end], last[end] = totals[i] + beta, i
    cps, end = [], n
    while end > 0:
        end = int(last[end])
        cps.append(end)
    return sorted(c for c in cps if c > 0)


def detect(
    values: npt.ArrayLike,
    *,
    penalty: float = PENALTY,
    slope_penalty: float = SLOPE_PENALTY,
    min_size: int = MIN_SIZE,
    curve_penalty: float = CURVE_PENALTY,
) -> list[int]:
    """Indices where a new segment starts (the module docstring has the method).

    Args:
        values: Shape ``(n,)`` or ``(n, d)``; NaN marks a missing value. Not modified.
        penalty: ``beta / (d ln n)``, the price of one change point.
        slope_penalty: The price of a slope within a segment, in noise variances.
        curve_penalty: The further price of a bend (a parabola) within a segment; ``inf``
            leaves bends out.
        min_size: Fewest points in a segment.

    Returns:
        Sorted change point indices in ``(0, n)``; empty when ``n < 2 * min_size``.
    """
    signal = _as_signal(values)
    n, d = signal.shape
    if n < 2 * min_size:
        return []
    sigma = np.array([noise_scale(col) for col in signal.T])
    cost = SegmentCost(signal, sigma, slope_penalty, curve_penalty)
    beta = penalty * d * math.log(n)
    return _partition(cost, n, beta, min_size)


@dataclass(frozen=True)
class ChangePoint:
    """A declared change: where it starts and how many points later it was declared."""

    index: int
    declared_at: int

    @property
    def delay(self) -> int:
        """Points between the change and its declaration."""
        return self.declared_at - self.index


_NO_STREAK: Mapping[int, int] = MappingProxyType({})
"""No candidate found yet (shared: a detector replaces it, never changes it)."""


class ChangePointDetector:
    """:func:`detect` on the points since the last declared change, as they arrive.

    Every ``every`` points the buffer — the points since the last declared change, at most
    ``window`` — is segmented. A change point is declared once it has at least ``delay``
    points after it and ``confirm`` consecutive runs found it (within ``min_size``). The
    buffer then restarts at the declared change, so overlapping windows cannot declare it
    twice and the old regime no longer weighs on the new one. Memory is ``window`` points.
    """

    __slots__ = (
        "window",
        "every",
        "min_size",
        "penalty",
        "slope_penalty",
        "curve_penalty",
        "delay",
        "confirm",
        "_buffer",
        "_width",
        "_seen",
        "_declared",
        "_streak",
    )

    def __init__(
        self,
        *,
        window: int = WINDOW,
        every: int = EVERY,
        min_size: int = MIN_SIZE,
        penalty: float = PENALTY,
        slope_penalty: float = SLOPE_PENALTY,
        delay: int = DELAY,
        confirm: int = CONFIRM,
        curve_penalty: float = CURVE_PENALTY,
    ) -> None:
        if window < 2 * min_size or every < 1 or min_size < 1 or confirm < 1:
            raise ValueError("need window >= 2 * min_size, every >= 1, min_size >= 1, confirm >= 1")
        self.window, self.every, self.min_size = window, every, min_size
        self.penalty, self.slope_penalty = penalty, slope_penalty
        self.curve_penalty = curve_penalty
        self.delay, self.confirm = max(delay, min_size), confirm
        # the points, at most window, row after row in one typed array (``_width`` numbers a
        # point, set by the first): a 1-d numpy array a point cost ~110 B, this 8 a number
        self._buffer = array("d")
        self._width = 0
        self._seen = 0
        # made when first needed (most series declare nothing: ~120 B each at 5,000 series)
        self._declared: Sequence[ChangePoint] = ()
        self._streak: Mapping[int, int] = _NO_STREAK  # candidate -> consecutive runs found it

    @property
    def reported(self) -> list[int]:
        """Every change point declared so far, in order."""
        return [c.index for c in self._declared]

    @property
    def declared(self) -> list[ChangePoint]:
        """Every declared change point with its delay."""
        return list(self._declared)

    @property
    def seen(self) -> int:
        """Points seen so far."""
        return self._seen

    def update(self, x: npt.ArrayLike) -> list[int]:
        """Add one point (a number, or ``d`` numbers); returns newly declared change points."""
        row = np.atleast_1d(np.asarray(x, dtype=np.float64)).ravel()
        if not self._width:
            self._width = row.size
        elif row.size != self._width:
            raise ValueError(f"a point of {row.size} numbers after points of {self._width}")
        self._buffer.extend(row.tolist())
        if len(self._buffer) > self.window * self._width:
            del self._buffer[: self._width]
        self._seen += 1
        if self._seen % self.every:
            return []
        return self._run(final=False)

    def flush(self) -> list[int]:
        """Declare what the buffer shows now, unconfirmed (e.g. at the end of a series)."""
        return self._run(final=True)

    def _run(self, final: bool) -> list[int]:
        held = len(self._buffer) // max(self._width, 1)
        if held < 2 * self.min_size:
            return []
        offset = self._seen - held
        found = detect(
            np.array(self._buffer, dtype=np.float64).reshape(held, self._width),
            penalty=self.penalty,
            slope_penalty=self.slope_penalty,
            min_size=self.min_size,
            curve_penalty=self.curve_penalty,
        )
        streak: dict[int, int] = {}
        for cp in (offset + c for c in found if held - c >= self.delay):
            near = [k for k in self._streak if abs(k - cp) < self.min_size]
            streak[cp] = 1 + max((self._streak[k] for k in near), default=0)
        new = sorted(cp for cp, runs in streak.items() if final or runs >= self.confirm)
        kept = {cp: runs for cp, runs in streak.items() if cp > max(new, default=-1)}
        self._streak = kept or _NO_STREAK
        if new:
            self._declared = [*self._declared, *(ChangePoint(cp, self._seen) for cp in new)]
            del self._buffer[: (new[-1] - offset) * self._width]  # restart at the latest change
        return new
