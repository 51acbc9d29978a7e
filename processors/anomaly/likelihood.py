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

:class:`Likelihood` puts the two steps together for one model's raw surprises.
"""

from __future__ import annotations

import math
from typing import Any

LOG_SCALE = 10.0  # log_score = 1 at q = 10⁻¹⁰
SQRT2 = math.sqrt(2.0)
LN10 = math.log(10.0)


def log_score_of_log10(log10_tail: float) -> float:
    """``−log10(q) / 10`` clipped to ``[0, 1]``, from ``log10 q``."""
    return min(1.0, max(0.0, -log10_tail / LOG_SCALE))


def log10_gaussian_tail(x: float) -> float:
    """``log10 Q(x)``, the standard normal upper tail, accurate far out (no underflow)."""
    if x < 5.0:
        return math.log10(max(0.5 * math.erfc(x / SQRT2), 1e-300))
    # Mills ratio: Q(x) ≈ φ(x)/x · (1 − 1/x² + 3/x⁴)
    return (
        -0.5 * x * x - math.log(x * math.sqrt(2 * math.pi)) + math.log1p(-1 / x**2 + 3 / x**4)
    ) / LN10


def log_score(tail: float) -> float:
    """``−log10(q) / 10`` clipped to ``[0, 1]``."""
    if tail <= 10.0**-LOG_SCALE:
        return 1.0
    return min(1.0, max(0.0, -math.log10(tail) / LOG_SCALE))


class GaussianTail:
    """Exponentially weighted Gaussian fit of a statistic and its upper tail probability."""

    __slots__ = ("alpha", "min_var", "n", "mean", "var")

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

    def log10_tail(self, value: float) -> float:
        """``log10 P(A ≥ value)`` (0 before any data)."""
        if self.n == 0:
            return 0.0
        sd = math.sqrt(max(self.var, self.min_var))
        return log10_gaussian_tail((value - self.mean) / sd)

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


class Likelihood:
    """Numenta's anomaly likelihood of one model's raw surprises ``z_t``.

    ``a_t = a_t-1 + β (z_t − a_t-1)`` with ``β = 2 / (span + 1)``; ``q(a) = P(A ≥ a)`` under a
    Gaussian fitted to ``a`` at rate ``α`` (:class:`GaussianTail`, variance at least
    ``min_var``). ``log_tail`` judges without learning; ``learn_one`` folds ``a_t`` in.

    >>> lik = Likelihood(short_span=5, long_alpha=0.01)
    >>> for i in range(300):
    ...     lik.learn_one(1.0 + 0.5 * (i % 2))
    >>> lik.log_tail(1.25) > -1.0, lik.log_tail(20.0) < -10.0
    (True, True)
    """

    __slots__ = ("short_span", "beta", "average", "fit")

    def __init__(self, short_span: int, long_alpha: float, min_var: float = 1e-2) -> None:
        self.short_span = short_span
        self.beta = 2.0 / (short_span + 1)
        self.average = 0.0
        self.fit = GaussianTail(long_alpha, min_var)

    def _average(self, z: float) -> float:
        return self.average + self.beta * (z - self.average)

    def log_tail(self, z: float) -> float:
        """``log10 q`` of the short average once ``z`` is in it."""
        return self.fit.log10_tail(self._average(z))

    def learn_one(self, z: float) -> None:
        """Fold ``z`` into the short average and the average into the long fit."""
        self.average = self._average(z)
        self.fit.learn_one(self.average)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {"short_span": self.short_span, "average": self.average, "fit": self.fit.to_dict()}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Likelihood:
        """Rebuild from :meth:`to_dict`."""
        fit = GaussianTail.from_dict(state["fit"])
        lik = cls(int(state["short_span"]), fit.alpha, fit.min_var)
        lik.average, lik.fit = float(state["average"]), fit
        return lik
