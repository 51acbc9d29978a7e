"""A coarser time scale: the series' block means, judged against their own history.

A slow bump a few noise widths high, a day long on an hourly series, is no surprise to a
one-step predictor (it follows the bump) and too short for the shift model's slow baseline,
but averaged over blocks of ``B`` points its noise shrinks by about ``√B`` and the bump is a
spike of the block means.
"""

from __future__ import annotations

import math

from otel_perf.codec import StateError
from otel_perf.processors.anomaly.likelihood import MAE_TO_SD, Likelihood, log10_gaussian_tail
from otel_perf.processors.anomaly.models import Direction, PredictorBank
from otel_perf.processors.anomaly.saved import SavedBlocks

LOG10_2 = math.log10(2.0)


class BlockMeans:
    """Means of consecutive blocks of ``B`` points, scored by their own predictors.

    Each block ``k`` of ``B`` points has the mean ``m_k = (1/B) Σ x`` and the time of its last
    point ``t_k``. The block means are a series of their own: a :class:`~.models.PredictorBank`
    (the last block mean, an EWMA of block means, a daily and weekly profile of them where a
    period holds ≥ 12 blocks) gives the surprise ``z_k = |m_k − m̂_k| / (e_b + ε)`` of the
    predictor that has erred least on block means. Its tail is that of a
    :class:`~.likelihood.Likelihood` of ``z`` (short span ``span`` blocks), but no smaller than
    that of a Gaussian error ``z`` mean errors from its forecast:

        ``log10 q_k = max(log10 q_fit(z_k), log10 2Q(z_k / 1.2533))``

    A fit over the few dozen blocks a series has in its first days, Gaussian while ``z`` is
    half-normal, would call one block in a thousand 10⁻¹⁰ (a false alarm on white noise);
    a series whose block means are heavy-tailed widens the fit, and the fit's tail judges.
    Only the point that completes a block is judged (``score_one`` is 0 elsewhere), so a bump
    is seen at most ``B`` points after it starts; state is the bank's (profiles of at most
    ``max_buckets`` buckets), one sum and one count; a point costs O(1).

    >>> m = BlockMeans(block=12, seasonality_s=())
    >>> noise = [0.3, -0.1, 0.5, -0.4, 0.2, -0.3, 0.1, 0.4, -0.5, 0.0, -0.2, 0.3]
    >>> for i in range(1200):
    ...     m.learn_one(60.0 * i, 10.0 + noise[(5 * i) % 12 if (i // 12) % 2 else i % 12])
    >>> all(m.score_one(60.0 * i, 10.0) == 0.0 for i in range(1200, 1211))
    True
    >>> for i in range(1200, 1211):
    ...     m.learn_one(60.0 * i, 11.0)
    >>> m.score_one(60.0 * 1211, 11.0) < -5.0
    True
    """

    __slots__ = ("block", "bank", "likelihood", "total", "count")

    def __init__(
        self,
        block: int = 12,
        seasonality_s: tuple[float, ...] = (),
        direction: Direction = "both",
        span: int = 1,
        long_alpha: float = 0.005,
        max_buckets: int = 64,
    ) -> None:
        if block < 2:
            raise ValueError(f"block: must be at least 2 points, got {block}")
        self.block = block
        self.bank = PredictorBank(seasonality_s, direction, max_buckets=max_buckets)
        self.likelihood = Likelihood(span, long_alpha)
        self.total = 0.0
        self.count = 0

    def _completes(self) -> bool:
        return self.count + 1 >= self.block

    def score_one(self, t_s: float, x: float) -> float:
        """``log10 q`` of the block ``x`` completes (0 for a point inside a block)."""
        if not self._completes():
            return 0.0
        mean = (self.total + x) / self.block
        z = self.bank.score_one(t_s, mean)
        if self.bank.judge < 0:
            return 0.0
        # no rarer than a Gaussian error of z mean errors: the fit of a few dozen blocks,
        # Gaussian while z is half-normal, would call one block in a thousand 10⁻¹⁰
        gaussian = LOG10_2 + log10_gaussian_tail(z / MAE_TO_SD)
        return max(self.likelihood.log_tail(z), gaussian)

    def learn_one(self, t_s: float, x: float) -> None:
        """Add ``x`` to its block; a completed block's mean is learned by the bank."""
        if not self._completes():
            self.total += x
            self.count += 1
            return
        mean = (self.total + x) / self.block
        z = self.bank.score_one(t_s, mean)
        if self.bank.judge >= 0:
            self.likelihood.learn_one(z)
        self.bank.learn_one(t_s, mean)
        self.total, self.count = 0.0, 0

    def band(self) -> tuple[float, float]:
        """Where the last judged block mean was expected."""
        return self.bank.band()

    def saved(self) -> SavedBlocks:
        """The state as a document (:mod:`~otel_perf.processors.anomaly.saved`)."""
        return SavedBlocks(
            self.block, self.bank.saved(), self.likelihood.saved(), self.total, self.count
        )

    @classmethod
    def resume(cls, saved: SavedBlocks) -> BlockMeans:
        """Continue from :meth:`saved`."""
        m = cls(saved.block)
        m.bank = PredictorBank.resume(saved.bank)
        m.likelihood = Likelihood.resume(saved.likelihood)
        m.total, m.count = saved.total, saved.count
        if not math.isfinite(m.total):
            raise StateError(".total", f"must be finite, got {m.total!r}")
        return m
