"""A coarser time scale: the series' block means, judged against their own history.

A slow bump a few noise widths high, a day long on an hourly series, is no surprise to a
one-step predictor (it follows the bump) and too short for the shift model's slow baseline,
but averaged over blocks of ``B`` points its noise shrinks by about ``√B`` and the bump is a
spike of the block means.

A block can be a *duration* instead of a count (``duration_s``; the detector's default is a
day): the same setting then means the same thing on five-minute and hourly series, and a
block of one whole day averages the daily cycle away, leaving the day's level.
"""

from __future__ import annotations

import math
import statistics

from otel_perf.codec import StateError
from otel_perf.processors.anomaly.likelihood import MAE_TO_SD, Likelihood, log10_gaussian_tail
from otel_perf.processors.anomaly.models import Direction, PredictorBank
from otel_perf.processors.anomaly.saved import SavedBlocks, finite_or_none, or_nan

LOG10_2 = math.log10(2.0)
#: gaps between points whose median is the sampling step of a block given as a duration
PROBE_GAPS = 8


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

    **Blocks of a duration** ``D`` (``duration_s > 0``): the step ``Δ`` is the median of the
    series' first :data:`PROBE_GAPS` gaps, ``B = round(D / Δ)`` (under 2: the model stays
    idle). Blocks are aligned to the clock, block ``k`` holding the points with
    ``⌊t / D⌋ = k`` (a day from midnight UTC); a block ends at the point whose next one is
    due in the next block (``⌊(t + Δ) / D⌋ > ⌊t / D⌋``), its mean is over the points it has,
    and a block with fewer than ``B / 2`` of them is skipped (a gap), not judged.

    >>> day = BlockMeans(0, duration_s=86400.0)
    >>> for i in range(48):
    ...     day.learn_one(3600.0 * i, 1.0)
    >>> day.block, day.name, day.bank.n  # hourly points: 24 a block; day 0 from 09:00
    (24, '1d', 2)
    """

    __slots__ = (
        "block",
        "bank",
        "likelihood",
        "total",
        "count",
        "duration_s",
        "step_s",
        "gaps",
        "last_t_s",
        "end_s",
    )

    def __init__(
        self,
        block: int = 12,
        seasonality_s: tuple[float, ...] = (),
        direction: Direction = "both",
        span: int = 1,
        long_alpha: float = 0.005,
        max_buckets: int = 64,
        duration_s: float = 0.0,
    ) -> None:
        if duration_s > 0.0:
            block = 0  # derived from the sampling step (:meth:`_measure`)
        elif block < 2:
            raise ValueError(f"block: must be at least 2 points, got {block}")
        self.block = block
        self.duration_s = duration_s
        self.step_s = 0.0  # the sampling step, once measured (a block of a duration)
        self.gaps: list[float] = []  # the first PROBE_GAPS steps, while the block is unknown
        self.last_t_s = math.nan
        # when the open block of a duration ends (derived from last_t_s); never for a count
        self.end_s = math.inf if duration_s <= 0.0 else -math.inf
        self.bank = PredictorBank(seasonality_s, direction, max_buckets=max_buckets)
        self.likelihood = Likelihood(span, long_alpha)
        self.total = 0.0
        self.count = 0

    @property
    def name(self) -> str:
        """``24`` (points a block), or ``1d`` / ``6h`` for a block of a duration."""
        if self.duration_s <= 0.0:
            return str(self.block)
        hours = self.duration_s / 3600.0
        return f"{hours / 24.0:g}d" if hours % 24.0 == 0.0 else f"{hours:g}h"

    def _open(self, t_s: float) -> tuple[float, int]:
        """``(sum, points)`` of the open block that a point at ``t_s`` joins."""
        if t_s >= self.end_s:
            return 0.0, 0  # a block of a duration: t_s begins the next one
        return self.total, self.count

    def _end(self, t_s: float) -> float:
        """When the block of a duration that holds ``t_s`` ends (the next one begins)."""
        return (math.floor(t_s / self.duration_s) + 1.0) * self.duration_s

    def _completes(self, t_s: float, count: int) -> bool:
        """Whether the point at ``t_s`` ends its block (its ``count + 1``-th point)."""
        if self.block < 2:
            return False
        if self.duration_s <= 0.0:
            return count + 1 >= self.block
        # the next point is due in the next block; a block missing half its points is skipped
        end_s = self.end_s if t_s < self.end_s else self._end(t_s)
        return t_s + self.step_s >= end_s and 2 * (count + 1) >= self.block

    def _measure(self, t_s: float) -> None:
        """Fix a duration's block at ``round(duration / step)`` points, the step the median of
        the first :data:`PROBE_GAPS` gaps; under 2 points a block, the model stays idle."""
        if self.last_t_s < t_s:
            self.gaps.append(t_s - self.last_t_s)
        self.last_t_s = t_s
        if len(self.gaps) >= PROBE_GAPS:
            self.step_s = statistics.median(self.gaps)
            self.block = max(1, round(self.duration_s / self.step_s))  # 1: idle for good
            self.gaps = []
            self.end_s = self._end(t_s)

    def score_one(self, t_s: float, x: float) -> float:
        """``log10 q`` of the block ``x`` completes (0 for a point inside a block)."""
        total, count = self._open(t_s)
        if not self._completes(t_s, count):
            return 0.0
        z = self.bank.score_one(t_s, (total + x) / (count + 1))
        if self.bank.judge < 0:
            return 0.0
        # no rarer than a Gaussian error of z mean errors: the fit of a few dozen blocks,
        # Gaussian while z is half-normal, would call one block in a thousand 10⁻¹⁰
        gaussian = LOG10_2 + log10_gaussian_tail(z / MAE_TO_SD)
        return max(self.likelihood.log_tail(z), gaussian)

    def learn_one(self, t_s: float, x: float) -> None:
        """Add ``x`` to its block; a completed block's mean is learned by the bank."""
        if self.block == 0:
            self._measure(t_s)
            return
        total, count = self._open(t_s)
        if self.duration_s > 0.0:
            self.last_t_s = t_s
            if t_s >= self.end_s:
                self.end_s = self._end(t_s)
        if not self._completes(t_s, count):
            self.total, self.count = total + x, count + 1
            return
        mean = (total + x) / (count + 1)
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
            self.block,
            self.bank.saved(),
            self.likelihood.saved(),
            self.total,
            self.count,
            self.duration_s,
            self.step_s,
            list(self.gaps),
            finite_or_none(self.last_t_s),
        )

    @classmethod
    def resume(cls, saved: SavedBlocks) -> BlockMeans:
        """Continue from :meth:`saved`."""
        m = cls(saved.block if saved.duration_s <= 0.0 else 2, duration_s=saved.duration_s)
        if saved.block < 0:
            raise StateError(".block", f"must be at least 0, got {saved.block}")
        m.block = saved.block
        m.step_s = saved.step_s
        m.gaps, m.last_t_s = list(saved.gaps[:PROBE_GAPS]), or_nan(saved.last_t_s)
        if m.duration_s > 0.0 and m.block > 0 and math.isfinite(m.last_t_s):
            m.end_s = m._end(m.last_t_s)
        m.bank = PredictorBank.resume(saved.bank)
        m.likelihood = Likelihood.resume(saved.likelihood)
        m.total, m.count = saved.total, saved.count
        if not math.isfinite(m.total):
            raise StateError(".total", f"must be finite, got {m.total!r}")
        return m
