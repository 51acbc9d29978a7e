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
from array import array
from statistics import NormalDist

from otel_perf.processors.anomaly.saved import SavedLikelihood, SavedRecurrence, SavedTail

LOG_SCALE = 10.0  # log_score = 1 at q = 10⁻¹⁰
SQRT2 = math.sqrt(2.0)
LN10 = math.log(10.0)
MAE_TO_SD = 1.2533  # σ / mean absolute deviation of a Gaussian
STANDARD_NORMAL = NormalDist()  # the standard library's: an idle sidecar imports no scipy


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

    def saved(self) -> SavedTail:
        """The state as a document (:mod:`~otel_perf.processors.anomaly.saved`)."""
        return SavedTail(self.alpha, self.min_var, self.n, self.mean, self.var)

    @classmethod
    def resume(cls, saved: SavedTail) -> GaussianTail:
        """Continue from :meth:`saved`."""
        fit = cls(saved.alpha, saved.min_var)
        fit.n, fit.mean, fit.var = saved.n, saved.mean, saved.var
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

    def saved(self) -> SavedLikelihood:
        """The state as a document (:mod:`~otel_perf.processors.anomaly.saved`)."""
        return SavedLikelihood(self.short_span, self.average, self.fit.saved())

    @classmethod
    def resume(cls, saved: SavedLikelihood) -> Likelihood:
        """Continue from :meth:`saved`."""
        fit = GaussianTail.resume(saved.fit)
        lik = cls(saved.short_span, fit.alpha, fit.min_var)
        lik.average, lik.fit = saved.average, fit
        return lik


class Recurrence:
    """How often this series has been this surprised before: a cap on a model's surprise.

    A likelihood fitted with a Gaussian tail calls a surprise of ``s = −log10 q`` rare even on
    a series that reaches it every few hours (disk bursts, a garbage collector's sawtooth, an
    error ratio over a handful of night-time requests). This model counts the *upcrossings*
    of the levels ``L_j = 2^(j/2)``, ``j = 0 … 12`` (points where the surprise rises through
    one), exponentially weighted at rate ``α``: ``u_j ← (1 − α) u_j + [s_t-1 < L_j ≤ s_t]``,
    beside the weighted number of points ``w ← (1 − α) w + 1``. With ``j`` the highest level
    ``≤ s``, ``ρ_j = (u_j − free) / w`` is how often the series has risen this far, beyond the
    first ``free`` times (the first events of a kind are news). A level reached at least once
    every ``1 / min_rate`` points is the series' normal. The surprise is capped at the rate of
    the level *below* its own, how often the series has come within a factor √2 of it:

        ``s' = min(s, −log10 ρ_j−1)``  when ``ρ_j−1 ≥ min_rate``, else ``s``.

    The one level of slack is for bursts the series has every day at surprises spread over
    two or three levels (five-minute counts with a daily burst, a spiky CPU): each level alone
    is reached too seldom to be capped, though every burst is like the others. It was chosen
    by NAB's leave-one-category-out figure (68.30 → 69.00 pooled; in-sample 70.46 → 69.00,
    no slack against one level; two levels: 56.43 held out), not in-sample.

    The cap only lowers a surprise, and only on series that are often this surprised: rare
    events (NAB's anomalies, a fault) keep the likelihood's judgement. Counts decay lazily
    (each level keeps the point it was last updated at), so a point costs O(1).
    State: ``2 × 13 + 2`` numbers.

    >>> r = Recurrence(alpha=1e-3, free=1, min_rate=1e-3)
    >>> for i in range(1000):
    ...     r.learn_one(6.0 if i % 100 == 0 else 0.5)
    >>> round(r.cap(6.5), 2), r.cap(30.0)
    (2.1, 30.0)
    """

    __slots__ = (
        "alpha",
        "free",
        "min_rate",
        "upcrossings",
        "stamps",
        "n",
        "last",
        "weight",
        "last_level",
    )

    LEVELS = 13

    def __init__(self, alpha: float, free: int, min_rate: float) -> None:
        self.alpha = alpha
        self.free = free
        self.min_rate = min_rate
        # flat arrays: three of these per series, and each list float is a 24-byte object
        self.upcrossings = array("d", bytes(8 * self.LEVELS))
        self.stamps = array("q", bytes(8 * self.LEVELS))  # the point each count is as of
        self.n = 0
        self.last = 0.0
        self.weight = 0.0  # (1 − (1 − α)^n) / α, kept rather than recomputed
        self.last_level = -1  # level(last)

    @classmethod
    def level(cls, surprise: float) -> int:
        """Index of the highest level ``≤ surprise`` (-1 below ``L_0 = 1``)."""
        if surprise < 1.0:
            return -1
        return min(int(2.0 * math.log2(surprise)), cls.LEVELS - 1)

    def _count(self, j: int) -> float:
        return self.upcrossings[j] * (1.0 - self.alpha) ** (self.n - self.stamps[j])

    def rate(self, surprise: float) -> float:
        """``ρ``: how often the series has risen to ``surprise``'s level (0 below ``min_rate``)."""
        return self._rate_at(self.level(surprise))

    def _rate_at(self, j: int) -> float:
        if j < 0:
            return 0.0
        rate = (self._count(j) - self.free) / max(self.weight, 1.0)
        return rate if rate >= self.min_rate else 0.0

    def cap(self, surprise: float) -> float:
        """``s'``: ``surprise`` capped at the recurrence rate of the level below its own."""
        rate = self._rate_at(self.level(surprise) - 1)
        return surprise if rate <= 0.0 else min(surprise, -math.log10(rate))

    def calibrate(self, z: float, rate: float | None = None) -> float:
        """A one-step surprise ``z`` (in mean absolute errors) no larger than its rate says.

        ``z' = min(z, 1.2533 · Φ⁻¹(1 − ρ / 2))`` when ``ρ ≥ min_rate``: the surprise of a
        Gaussian error that is exceeded as often as this series rises to ``z`` (a disk that
        bursts to 20 mean errors once an hour gets the surprise of a once-an-hour error).
        """
        rate = self.rate(z) if rate is None else rate
        if rate <= 0.0:
            return z
        return min(z, -MAE_TO_SD * STANDARD_NORMAL.inv_cdf(0.5 * min(rate, 1.0)))

    def learn_one(self, surprise: float) -> None:
        """Count the levels ``surprise`` rose through."""
        self.n += 1
        self.weight = (1.0 - self.alpha) * self.weight + 1.0
        level = self.level(surprise)
        for j in range(self.last_level + 1, level + 1):
            self.upcrossings[j] = self._count(j) + 1.0
            self.stamps[j] = self.n
        self.last, self.last_level = surprise, level

    def saved(self) -> SavedRecurrence:
        """The state as a document (:mod:`~otel_perf.processors.anomaly.saved`)."""
        return SavedRecurrence(
            self.alpha,
            self.free,
            self.min_rate,
            list(self.upcrossings),
            list(self.stamps),
            self.n,
            self.last,
            self.weight,
        )

    @classmethod
    def resume(cls, saved: SavedRecurrence) -> Recurrence:
        """Continue from :meth:`saved`."""
        r = cls(saved.alpha, saved.free, saved.min_rate)
        r.upcrossings = array("d", saved.upcrossings)
        r.stamps = array("q", saved.stamps)
        r.n, r.last = saved.n, saved.last
        weight = saved.weight  # saved before it was kept: the closed form
        r.weight = (1.0 - (1.0 - r.alpha) ** r.n) / r.alpha if weight is None else weight
        r.last_level = r.level(r.last)
        return r
