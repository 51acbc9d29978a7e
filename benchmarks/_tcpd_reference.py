"""Reference detectors for ``benchmarks.tcpd``: no change points, and TCPDBench's defaults.

TCPDBench's default amoc, pelt and binseg call R's ``changepoint`` package as
``cpt.mean(x, penalty="MBIC", test.stat="Normal", method=..., Q=5)`` on the series scaled to
zero mean and unit variance. The TCPD development set does not carry their results, and R is
not here, so they are re-implemented with ruptures: the ``l2`` cost (the normal likelihood of
a change in mean with unit variance) on the z-scored series, penalty ``3 ln n`` (MBIC's
penalty for one parameter; MBIC's extra ``sum log(segment length)`` term is left out, so these
are close to, not identical with, the published defaults), segments of at least 2 points;
binseg keeps at most ``Q = 5`` change points, amoc at most one. Like ``changepoint`` they run
on one column only; missing values are interpolated first.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import ruptures as rpt

Series = npt.NDArray[np.float64]
Detector = Callable[[Series], list[int]]
MAX_BINSEG = 5  # TCPDBench's default Q


def zero(values: Series) -> list[int]:
    """No change points: TCPDBench's reference floor."""
    return []


def _zscored(values: Series) -> Series:
    x = values[:, 0]
    known = np.isfinite(x)
    if not known.all():  # uk_coal_employ has 2 gaps: interpolate, as the detector does
        index = np.arange(x.size)
        x = np.interp(index, index[known], x[known])
    std = x.std()
    standard: Series = ((x - x.mean()) / (std if std > 0 else 1.0))[:, None]
    return standard


def _penalty(n: int) -> float:
    return 3 * math.log(n)


def amoc(values: Series) -> list[int]:
    """At most one change: the best single split if it lowers the cost by more than MBIC."""
    x = _zscored(values)
    n = x.shape[0]
    if n < 4:
        return []
    cost = rpt.costs.CostL2().fit(x)
    whole = cost.error(0, n)
    gains = [(whole - cost.error(0, k) - cost.error(k, n), k) for k in range(2, n - 1)]
    gain, split = max(gains)
    return [split] if gain > _penalty(n) else []


def pelt(values: Series) -> list[int]:
    """Exact penalised segmentation (PELT), ``l2``, MBIC penalty."""
    x = _zscored(values)
    if x.shape[0] < 4:
        return []
    found = rpt.Pelt(model="l2", min_size=2, jump=1).fit(x).predict(pen=_penalty(x.shape[0]))
    return [int(b) for b in found[:-1]]


def binseg(values: Series) -> list[int]:
    """Binary segmentation, ``l2``, MBIC penalty, at most ``MAX_BINSEG`` change points."""
    x = _zscored(values)
    n = x.shape[0]
    if n < 4:
        return []
    algo = rpt.Binseg(model="l2", min_size=2, jump=1).fit(x)
    found = [int(b) for b in algo.predict(pen=_penalty(n))[:-1]]
    if len(found) > MAX_BINSEG:
        found = [int(b) for b in algo.predict(n_bkps=MAX_BINSEG)[:-1]]
    return found


REFERENCES: dict[str, Detector] = {
    "zero": zero,
    "amoc": amoc,
    "pelt": pelt,
    "binseg": binseg,
}
UNIVARIATE_ONLY = frozenset({"amoc", "pelt", "binseg"})
