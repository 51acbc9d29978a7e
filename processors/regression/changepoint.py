"""Change points of a performance series: binary segmentation over a least-squares cost.

:func:`detect` segments a whole series; :class:`ChangePointDetector` runs the same function
on a bounded sliding window as points arrive and reports each change point once.

Method (``ruptures.Binseg(model="l2")``, binary segmentation as in TCPDBench's best default
method), on ``x`` of shape ``(n, d)``:

1. Missing values (NaN) are filled by linear interpolation over the index (the nearest
   value at the ends), so every index keeps its place; an all-NaN column becomes 0.
2. Each column is standardised, ``z = (x - mean) / std`` (a constant column becomes 0), as
   TCPDBench does before running any method, so the penalty needs no unit.
3. Binary segmentation splits greedily where the cost
   ``sum_segments sum_{i in seg} ||z_i - mean(z_seg)||^2`` drops most, while the drop exceeds
   ``beta``, segments keeping at least ``min_size`` points; ``beta = 3 d ln n`` by default: the
   ``changepoint`` package's default MBIC-style penalty for a change in mean (``3 ln n`` per
   column; BIC would be ``2 ln n``). On the TCPD subset ``2, 3, 4`` times ``d ln n`` score
   within 0.02 F1 of each other (benchmarks/README.md); 3 was picked as the published default,
   not tuned per series. PELT (exact) scored the same there but took ~20x longer (0.4 s for
   300 points in ruptures), too slow to re-run on every window.

A change point is the index of the first point of a new segment (TCPDBench's convention;
0 is never returned).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
PENALTY_PER_LOG_N = 3.0
MIN_SIZE = 5


def _fill_missing(column: FloatArray) -> FloatArray:
    known = np.isfinite(column)
    if known.all():
        return column
    if not known.any():
        return np.zeros_like(column)
    index = np.arange(column.size)
    return np.interp(index, index[known], column[known])


def _standardise(signal: FloatArray) -> FloatArray:
    filled = np.column_stack([_fill_missing(col) for col in signal.T])
    std = filled.std(axis=0)
    standard: FloatArray = (filled - filled.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return standard


def default_penalty(n: int, d: int = 1) -> float:
    """``3 d ln n``: the MBIC-style penalty for ``n`` points of ``d`` columns."""
    return PENALTY_PER_LOG_N * d * math.log(n)


def detect(
    values: npt.ArrayLike, *, penalty: float | None = None, min_size: int = MIN_SIZE
) -> list[int]:
    """Indices where a new segment starts (the module docstring has the method).

    Args:
        values: Shape ``(n,)`` or ``(n, d)``; NaN marks a missing value. Not modified.
        penalty: Cost of one change point on the standardised series; default
            :func:`default_penalty`.
        min_size: Fewest points in a segment.

    Returns:
        Sorted change point indices in ``(0, n)``; empty when ``n < 2 * min_size``.
    """
    signal = np.asarray(values, dtype=np.float64)
    signal = signal.reshape(signal.shape[0], -1) if signal.ndim != 2 else signal
    n, d = signal.shape
    if n < 2 * min_size:
        return []
    beta = default_penalty(n, d) if penalty is None else penalty
    import ruptures as rpt  # on first use: ruptures pulls in scipy (~70 MB)

    algo = rpt.Binseg(model="l2", min_size=min_size, jump=1).fit(_standardise(signal))
    return [int(b) for b in algo.predict(pen=beta)[:-1]]


class ChangePointDetector:
    """:func:`detect` on the last ``window`` points, re-run every ``every`` new points.

    ``update(x)`` returns the change points (indices counted from the first point ever seen)
    that ``confirm`` consecutive runs have found (within ``min_size`` of each other) and that
    are not within ``min_size`` of one already reported; the position from the latest run is
    reported. Early runs see few points, so a single run's answer is not trusted alone. A
    change is reported once its new segment has ``min_size`` points and ``confirm`` runs have
    passed, i.e. about ``min_size + confirm * every`` points late; memory is ``window`` points.
    """

    def __init__(
        self,
        *,
        window: int = 500,
        every: int = 10,
        min_size: int = MIN_SIZE,
        penalty: float | None = None,
        confirm: int = 2,
    ) -> None:
        if window < 2 * min_size or every < 1 or min_size < 1:
            raise ValueError("need window >= 2 * min_size, every >= 1 and min_size >= 1")
        self.window, self.every, self.min_size, self.penalty = window, every, min_size, penalty
        self._buffer: deque[FloatArray] = deque(maxlen=window)
        self._seen = 0
        self.confirm = confirm
        self._reported: list[int] = []
        self._streak: dict[int, int] = {}  # candidate -> consecutive runs that found it

    @property
    def reported(self) -> list[int]:
        """Every change point reported so far, in order."""
        return list(self._reported)

    def update(self, x: npt.ArrayLike) -> list[int]:
        """Add one point (a number, or ``d`` numbers); returns newly found change points."""
        self._buffer.append(np.atleast_1d(np.asarray(x, dtype=np.float64)))
        self._seen += 1
        if self._seen % self.every:
            return []
        return self._run()

    def flush(self) -> list[int]:
        """Run on what is buffered now (e.g. at the end of a series)."""
        return self._run()

    def _run(self) -> list[int]:
        offset = self._seen - len(self._buffer)
        found = detect(np.stack(self._buffer), penalty=self.penalty, min_size=self.min_size)
        streak: dict[int, int] = {}
        for cp in (offset + c for c in found):
            if any(abs(cp - old) < self.min_size for old in self._reported):
                continue
            near = [k for k in self._streak if abs(k - cp) < self.min_size]
            streak[cp] = 1 + max((self._streak[k] for k in near), default=0)
        new = sorted(cp for cp, runs in streak.items() if runs >= self.confirm)
        self._streak = {cp: runs for cp, runs in streak.items() if runs < self.confirm}
        self._reported.extend(new)
        return new
