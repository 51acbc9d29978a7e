"""Out-of-sample calibration of forecast intervals: conformal factors per band of steps.

A band ``[lo_h, hi_h]`` (the in-sample ``level`` quantiles of ``h``-step errors) is too
narrow when the model was fitted on the same data. Given errors ``e_{t,h}`` of genuinely
out-of-sample forecasts (:func:`~.forecast.calibration` makes them), each is scored against
its step's band about the centre ``c_h = (lo_h + hi_h)/2``:

    r_{t,h} = (e_{t,h} − c_h)/(hi_h − c_h)  if e_{t,h} ≥ c_h,  else  (c_h − e_{t,h})/(c_h − lo_h)

so ``r ≤ 1`` means inside the band and ``r ≤ k`` means inside the band scaled by ``k`` about its
centre (each side keeps its own width: skew survives). Per band of steps (geometric bands,
short steps get their own) ``k`` is the ``level·(1 + 1/N)`` quantile of its ``N`` scores
(split conformal's finite-sample correction); between band centres it is interpolated, past the last
one it stays, and it never goes below ``min_factor`` (in-sample bands are optimistic, so a
factor below 1 is the noise of a short tail more often than a calmer future).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> errors = rng.normal(0, 2.0, (400, 4))  # out of sample: twice the in-sample spread
>>> lo, hi = np.full(4, -1.645), np.full(4, 1.645)  # the in-sample 90 % band of N(0, 1)
>>> k = factors(scores(errors, lo, hi), 0.9, 6)
>>> k.shape, bool(np.all(np.abs(k - 2.0) < 0.3))
((6,), True)
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
N_BANDS = 4  # calibration factors per geometric band of steps
MIN_SCORES = 30  # a band with fewer finite scores gets no factor of its own


def column_quantiles(a: Array, q: Array) -> Array:
    """Rows ``q``, columns of ``a``: NaN-ignoring linear quantiles (``np.nanquantile``'s default).

    One sort for all columns, where ``np.nanquantile`` loops over them in Python.

    >>> a = np.array([[1.0, np.nan], [3.0, 2.0], [2.0, np.nan]])
    >>> column_quantiles(a, np.array([0.5])).tolist()
    [[2.0, 2.0]]
    """
    ordered = np.sort(a.T, axis=1).T  # NaNs sort last; rows of a.T are contiguous
    count = np.sum(np.isfinite(a), axis=0)
    last = np.maximum(count - 1, 0)[None, :]
    pos = q[:, None] * last
    below = np.floor(pos).astype(int)
    above = np.minimum(below + 1, last)
    cols = np.arange(a.shape[1])[None, :]
    low, high = ordered[below, cols], ordered[above, cols]
    out = low + (pos - below) * (high - low)
    return np.asarray(np.where(count[None, :] > 0, out, np.nan), dtype=np.float64)


def scores(errors: Array, lo: Array, hi: Array) -> Array:
    """``r_{t,h}`` of the module docstring: 0 at the band's centre, 1 on its edge; NaN kept."""
    centre = (lo + hi) / 2
    up, down = np.maximum(hi - centre, 1e-12), np.maximum(centre - lo, 1e-12)
    dev = errors - centre
    return np.asarray(np.where(dev >= 0, dev / up, -dev / down), dtype=np.float64)


def factors(r: Array, level: float, horizon: int, *, min_factor: float = 1.0) -> Array:
    """Factors ``k`` for steps 1..horizon from scores ``r`` (rows origins, columns steps 1..h).

    Args:
        r: conformity scores from :func:`scores`; NaNs (no observation) are ignored.
        level: nominal coverage.
        horizon: steps to return; past the scored steps the last band's factor holds.
        min_factor: the least factor; all ones when no band has ``MIN_SCORES`` scores.
    """
    h = r.shape[1]
    edges = np.unique(np.geomspace(1, h + 1, N_BANDS + 1).round().astype(int))
    centres: list[float] = []
    found: list[float] = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        band = r[:, a - 1 : b - 1]
        band = band[np.isfinite(band)]
        if band.size < MIN_SCORES:
            continue
        centres.append((a + b - 1) / 2)
        found.append(float(np.quantile(band, min(1.0, level * (1 + 1 / band.size)))))
    if not found:
        return np.ones(horizon)
    k = np.interp(np.arange(1, horizon + 1), centres, found)
    return np.asarray(np.maximum(k, min_factor), dtype=np.float64)


def widen(lower: Array, upper: Array, k: Array) -> tuple[Array, Array]:
    """Each side of the band ``[lower, upper]`` scaled by ``k`` about its centre."""
    centre = (lower + upper) / 2
    return centre - k * (centre - lower), centre + k * (upper - centre)


__all__ = ["column_quantiles", "factors", "scores", "widen"]
