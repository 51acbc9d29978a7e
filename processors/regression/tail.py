"""Did the slow tail get slower? A test on the values above the pooled p80.

The rank test and the Hodges-Lehmann shift measure the bulk of a distribution, so a
regression of only the slow requests (a cache-miss path, a lock under load, one slow shard)
passes them. This test looks at the tail alone:

* ``threshold = quantile(baseline ∪ current, TAIL_QUANTILE)`` — pooled, so under "no change"
  the two samples are exchangeable and the threshold favours neither side;
* the excesses ``x - threshold`` of the values above it, in each sample;
* Welch's t-test of ``mean(current excess) > mean(baseline excess)`` (one-sided; the other
  side for ``direction="down"``), with its p-value;
* ``tail_change = mean(current tail) / mean(baseline tail) - 1``, the relative change of the
  mean of the values above the threshold — the size gate, like the HL shift for the bulk.

Chosen on seeded lognormal latencies (``benchmarks.tcpd --synthetic``) over Fisher's exact
test of exceedances at p90/p95, Mann-Whitney and Yuen's trimmed t on the excesses, and the
Savage rank test: a slower tail stretches the excesses more than it moves the count above any
threshold, and the mean of the excesses is what the stretch moves most.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

FloatArray = npt.NDArray[np.float64]
TAIL_QUANTILE = 0.8
MIN_TAIL = 5  # fewer values above the threshold on a side: no tail test


@dataclass(frozen=True)
class TailTest:
    """The tail test's result: a one-sided p-value (worse direction) and the tail's change."""

    p_worse: float
    p_better: float
    threshold: float
    change: float

    @classmethod
    def none(cls) -> TailTest:
        """No test (too few values in a tail)."""
        return cls(1.0, 1.0, math.nan, math.nan)


def tail_test(baseline: FloatArray, current: FloatArray, *, up_is_worse: bool = True) -> TailTest:
    """Welch's t on the excesses over the pooled p80 (module docstring); inputs finite."""
    threshold = float(np.quantile(np.concatenate([baseline, current]), TAIL_QUANTILE))
    b, c = baseline[baseline > threshold], current[current > threshold]
    if min(b.size, c.size) < MIN_TAIL:
        return TailTest.none()
    b_mean = float(b.mean())
    change = float(c.mean()) / b_mean - 1 if b_mean != 0 else math.nan
    if np.ptp(np.concatenate([b, c])) == 0:
        return TailTest(1.0, 1.0, threshold, change)
    greater = float(stats.ttest_ind(c, b, equal_var=False, alternative="greater").pvalue)
    less = float(stats.ttest_ind(c, b, equal_var=False, alternative="less").pvalue)
    worse, better = (greater, less) if up_is_worse else (less, greater)
    return TailTest(_finite_p(worse), _finite_p(better), threshold, change)


def _finite_p(p: float) -> float:
    return p if math.isfinite(p) else 1.0
