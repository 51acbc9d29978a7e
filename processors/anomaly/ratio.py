"""Count-aware scoring of a ratio (errors over calls): the surprise of ``k`` in ``n``.

An error ratio over a handful of night-time requests is noisy — 1 error in 3 calls is 33 %,
and it means little — while 30 in 300 is news. A model of the ratio's value alone cannot
tell the two apart; one that knows the denominator can. :class:`CountRatio` learns the
baseline rate from the counts and judges each point by its binomial tail at that rate, so
its surprise is in the same units (a normal quantile) whatever the number of calls.
"""

from __future__ import annotations

import math
from typing import Literal

from otel_perf.processors.anomaly.saved import SavedRatio, direction

Direction = Literal["both", "up", "down"]

Z_CAP = 20.0  # as the other models: one wild point may not dominate the long fit
DISPERSION_CAP = 100.0  # z² folded into the dispersion at most (a fault may not swamp it)


def binomial_z(k: float, n: float, p: float) -> float:
    """Signed normal quantile of ``k`` successes in ``n`` trials at rate ``p`` (mid-p).

    ``q = ½ [P(X ≥ k) + P(X > k)]`` with ``P(X ≥ k) = I_p(k, n − k + 1)`` (the regularised
    incomplete beta, so counts need not be whole), and ``z = Φ⁻¹(1 − q)``: positive when ``k``
    is above ``n p``, negative below, ``±20`` at most.

    >>> round(binomial_z(1, 3, 0.004), 2), round(binomial_z(30, 300, 0.004), 1)
    (2.51, 11.7)
    >>> round(binomial_z(5, 1000, 0.005), 2)
    0.07
    """
    from scipy.special import betainc, ndtri  # first use: scipy is ~70 MB resident

    k = min(max(k, 0.0), n)
    at_least = 1.0 if k <= 0.0 else float(betainc(k, n - k + 1.0, p))
    above = 0.0 if k + 1.0 > n else float(betainc(k + 1.0, n - k, p))
    q = 0.5 * (at_least + above)
    if q <= 0.0:
        return Z_CAP
    if q >= 1.0:
        return -Z_CAP
    return max(-Z_CAP, min(Z_CAP, -float(ndtri(q))))


class CountRatio:
    """Surprise of a ratio ``k / n`` against its learned baseline rate, counts considered.

    Baseline rate from exponentially weighted counts (rate ``α``):
    ``K ← (1 − α) K + k``, ``N ← (1 − α) N + n``, ``p̂ = (K + ½) / (N + 1)`` (the ½ keeps a
    series that has shown no error yet from calling its first one a catastrophe).
    A point's surprise is its binomial tail at ``p̂`` as a normal quantile
    (:func:`binomial_z`), scaled by the learned over-dispersion
    ``φ ← φ + α (min(z², 100) − φ)``, ``φ ≥ 1`` (real error counts vary more than binomially):

        ``z = binomial_z(k, n, p̂) / √φ``

    one-sided when ``direction`` says so. The same over the fast sums ``k_f ← (1 − α_f) k_f + k``,
    ``n_f ← (1 − α_f) n_f + n`` gives the surprise of the last ``~1/α_f`` points together
    (:meth:`window_z`): a rise that persists at a few extra errors a point.

    >>> m = CountRatio(alpha=0.01, fast_alpha=0.1)
    >>> for i in range(500):
    ...     m.learn_one(float(i), 4.0 + i % 3, 1000.0)
    >>> round(m.score_one(500.0, 1.0, 3.0), 1), round(m.score_one(500.0, 30.0, 300.0), 1)
    (2.4, 11.2)
    """

    __slots__ = (
        "alpha",
        "fast_alpha",
        "direction",
        "n",
        "errors",
        "calls",
        "fast_errors",
        "fast_calls",
        "dispersion",
    )

    def __init__(
        self, alpha: float = 0.002, fast_alpha: float = 0.05, direction: Direction = "both"
    ) -> None:
        self.alpha = alpha
        self.fast_alpha = fast_alpha
        self.direction: Direction = direction
        self.n = 0
        self.errors = 0.0
        self.calls = 0.0
        self.fast_errors = 0.0
        self.fast_calls = 0.0
        self.dispersion = 1.0

    def rate(self) -> float:
        """The baseline rate ``p̂``."""
        return (self.errors + 0.5) / (self.calls + 1.0)

    def _signed(self, z: float) -> float:
        z /= math.sqrt(self.dispersion)
        if self.direction == "up":
            return max(z, 0.0)
        if self.direction == "down":
            return max(-z, 0.0)
        return abs(z)

    def score_one(self, t_s: float, k: float, n: float) -> float:
        """The surprise of ``k`` in ``n`` at the baseline rate (not learned)."""
        if n <= 0.0:
            return 0.0
        return self._signed(binomial_z(k, n, self.rate()))

    def window_z(self, k: float, n: float) -> float:
        """The surprise of the fast sums once ``k`` in ``n`` is in them (not learned)."""
        decay = 1.0 - self.fast_alpha
        fast_n = decay * self.fast_calls + n
        if fast_n <= 0.0:
            return 0.0
        return self._signed(binomial_z(decay * self.fast_errors + k, fast_n, self.rate()))

    def band(self, n: float) -> tuple[float, float]:
        """Where the ratio of ``n`` calls is expected: ``p̂ ± 3 √(φ p̂ (1 − p̂) / n)``."""
        p = self.rate()
        spread = 3.0 * math.sqrt(self.dispersion * p * (1.0 - p) / max(n, 1.0))
        return max(p - spread, 0.0), min(p + spread, 1.0)

    def learn_one(self, t_s: float, k: float, n: float) -> None:
        """Fold ``k`` in ``n`` into the baseline, the fast sums and the dispersion."""
        if n <= 0.0:
            return
        z = binomial_z(k, n, self.rate())
        self.n += 1
        rate = max(self.alpha, 1.0 / self.n)
        if self.n > 1:
            self.dispersion = max(
                1.0, self.dispersion + rate * (min(z * z, DISPERSION_CAP) - self.dispersion)
            )
        decay = 1.0 - self.alpha
        self.errors = decay * self.errors + k
        self.calls = decay * self.calls + n
        self.fast_errors = (1.0 - self.fast_alpha) * self.fast_errors + k
        self.fast_calls = (1.0 - self.fast_alpha) * self.fast_calls + n

    def saved(self) -> SavedRatio:
        """The state as a document (:mod:`~otel_perf.processors.anomaly.saved`)."""
        return SavedRatio(
            self.alpha,
            self.fast_alpha,
            self.direction,
            self.n,
            self.errors,
            self.calls,
            self.fast_errors,
            self.fast_calls,
            self.dispersion,
        )

    @classmethod
    def resume(cls, saved: SavedRatio) -> CountRatio:
        """Continue from :meth:`saved`."""
        m = cls(saved.alpha, saved.fast_alpha, direction(saved.direction))
        m.n = saved.n
        m.errors, m.calls = saved.errors, saved.calls
        m.fast_errors, m.fast_calls = saved.fast_errors, saved.fast_calls
        m.dispersion = saved.dispersion
        return m
