"""An always-valid test of a new version against its baseline, one sample at a time.

Waiting for a full window of samples (200 by default) before judging a release makes a
large regression wait as long as a small one. The mixture sequential probability ratio test
(mSPRT; Robbins 1970, Johari et al. 2017, "Peeking at A/B tests") may be checked after every
sample and still calls a regression between two samples of one distribution at most
``alpha`` of the time (Ville's inequality), so a large shift is called after tens of samples
while a small one waits for more.

On ``y = ln(latency)`` (multiplicative shifts become additive; latency tails become nearly
normal): ``mu_0`` and ``sigma`` are the baseline's mean and standard deviation of ``y``; after
``n`` new samples with mean ``ybar``, with a normal mixing distribution ``N(0, tau^2)`` over
the shift, ``tau = sigma / 2`` (tuned to shifts around +50 %)::

    v      = sigma^2 * (1/n + 1/n_b)          # variance of ybar - mu_0, baseline error included
    Lambda = sqrt(v / (v + tau^2)) * exp((ybar - mu_0)^2 tau^2 / (2 v (v + tau^2)))

A regression (``ybar > mu_0`` for latency) is called when ``Lambda >= 1 / alpha``; its
always-valid p-value is ``min(1, 1 / max Lambda)``. Counting the baseline's error in ``v``
keeps the test honest when ``n_b`` is a few hundred; the false-alarm rate is measured in
``benchmarks.tcpd --synthetic``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

MIN_SAMPLES = 5
TAU_PER_SIGMA = 0.5


@dataclass(frozen=True)
class SequentialResult:
    """Where the test stands: called or not, after how many samples, how sure."""

    called: bool
    samples: int
    p_value: float  # always valid: 1 / the largest likelihood ratio so far
    log_ratio: float


def msprt(
    baseline: npt.ArrayLike, current: npt.ArrayLike, *, alpha: float, up_is_worse: bool = True
) -> SequentialResult:
    """Run the test over ``current`` in arrival order (module docstring); values must be > 0.

    Returns the first sample count at which it called a regression, else all of them.
    """
    b = np.log(_positive(baseline))
    c = np.log(_positive(current))
    if b.size < MIN_SAMPLES or c.size == 0:
        return SequentialResult(False, int(c.size), 1.0, 0.0)
    sigma = float(b.std(ddof=1)) or 1e-9
    tau2 = (TAU_PER_SIGMA * sigma) ** 2
    n = np.arange(1, c.size + 1, dtype=np.float64)
    diff = np.cumsum(c) / n - float(b.mean())
    v = sigma**2 * (1 / n + 1 / b.size)
    log_ratio = 0.5 * np.log(v / (v + tau2)) + diff**2 * tau2 / (2 * v * (v + tau2))
    log_ratio = np.where((diff > 0) == up_is_worse, log_ratio, -np.inf)
    log_ratio[: MIN_SAMPLES - 1] = -np.inf  # a handful of samples is no release
    crossed = np.flatnonzero(log_ratio >= math.log(1 / alpha))
    if crossed.size:
        i = int(crossed[0])
        return SequentialResult(True, i + 1, math.exp(-log_ratio[i]), float(log_ratio[i]))
    best = float(log_ratio.max())
    return SequentialResult(False, int(c.size), min(1.0, math.exp(-best)), best)


def _positive(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64).ravel()
    return array[np.isfinite(array) & (array > 0)]
