"""Anomaly likelihood: how unusual a short average of raw scores is, on a log scale.

After Numenta's ``AnomalyLikelihood`` (Ahmad et al., 2017, "Unsupervised real-time anomaly
detection for streaming data"): the raw scores ``s_t`` are averaged over a short span,
``a_t ← a_t-1 + β (s_t − a_t-1)``; a Gaussian ``N(μ, σ²)`` is fitted to ``a`` over a long span
(exponentially weighted, rate ``α``); the tail probability ``q = Q((a_t − μ) / σ)`` says how
surprising the recent raw scores are. :func:`log_score` maps ``q`` to ``[0, 1]`` as
``−log10(q) / 10``, Numenta's log-likelihood scale (0.5 ⇔ q = 10⁻⁵).

>>> t = GaussianTail(alpha=0.01, min_var=1e-4)
>>> for i in range(500):
...     t.learn_one(1.0 + 0.1 * (i % 3 - 1))
>>> round(log_score(t.tail(1.0)), 3), log_score(t.tail(3.0)) > 0.9
(0.03, True)
"""

from __future__ import annotations

import math
from typing import Any

LOG_SCALE = 10.0  # log_score = 1 at q = 10⁻¹⁰
SQRT2 = math.sqrt(2.0)


def log_score(tail: float) -> float:
    """``−log10(q) / 10`` clipped to ``[0, 1]``."""
    if tail <= 10.0**-LOG_SCALE:
        return 1.0
    return min(1.0, max(0.0, -math.log10(tail) / LOG_SCALE))


class GaussianTail:
    """Exponentially weighted Gaussian fit of a statistic and its upper tail probability."""

    def __init__(self, alpha: float, min_var: float) -> None:
        self.alpha = alpha
        self.min_var = min_var
        self.n = 0
        self.mean = 0.0
        self.var = 0.0

    def tail(self, value: float) -> float:
        """``P(A ≥ value)`` under the fitted Gaussian (1 before any data)."""
        if self.n == 0:
            return 1.0
        sd = math.sqrt(max(self.var, self.min_var))
        return 0.5 * math.erfc((value - self.mean) / (sd * SQRT2))

    def learn_one(self, value: float) -> None:
        """Update the fit; the first ``1 / alpha`` points are an exact running mean."""
        self.n += 1
        rate = max(self.alpha, 1.0 / self.n)
        delta = value - self.mean
        self.mean += rate * delta
        self.var = (1.0 - rate) * (self.var + rate * delta * delta)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {
            "alpha": self.alpha,
            "min_var": self.min_var,
            "n": self.n,
            "mean": self.mean,
            "var": self.var,
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> GaussianTail:
        """Rebuild from :meth:`to_dict`."""
        fit = cls(float(state["alpha"]), float(state["min_var"]))
        fit.n, fit.mean, fit.var = int(state["n"]), float(state["mean"]), float(state["var"])
        return fit
