"""Seasonal baseline: an exponentially weighted mean per phase bucket of a fixed period.

The period (a day, a week) is cut into ``n_buckets`` equal phase buckets; bucket ``b`` holds
``m_b ← m_b + α (x − m_b)`` over the points whose timestamp falls in it (the first point sets it).
``predict(t_s)`` is the bucket's mean once the bucket has been seen ``min_visits`` times, so a
profile predicts only after it has watched each phase at least that often. State is
``n_buckets`` doubles and ``n_buckets`` one-byte counts in flat arrays (9 bytes a bucket),
whatever the history length: a count only says whether a bucket has reached ``min_visits``,
so it stops at 255.

>>> p = SeasonalProfile(period_s=4.0, n_buckets=4, alpha=0.5, min_visits=1)
>>> for t in range(8):
...     p.learn_one(float(t), float(t % 4))
>>> p.predict(9.0)
1.0
"""

from __future__ import annotations

import math
from array import array

from otel_perf.processors.anomaly.saved import SavedProfile

VISITS_CAP = 255  # visits only gate prediction (min_visits ≤ 255): one byte a bucket


class SeasonalProfile:
    """Per-phase EWMA of a series over ``period_s``."""

    __slots__ = ("period_s", "n_buckets", "alpha", "min_visits", "means", "visits")

    def __init__(
        self, period_s: float, n_buckets: int, alpha: float = 0.2, min_visits: int = 2
    ) -> None:
        self.period_s = period_s
        self.n_buckets = n_buckets
        self.alpha = alpha
        self.min_visits = min_visits
        self.means = array("d", bytes(8 * n_buckets))
        if not 0 <= min_visits <= VISITS_CAP:
            raise ValueError(f"min_visits: must be 0 … {VISITS_CAP}, got {min_visits}")
        self.visits = array("B", bytes(n_buckets))

    def bucket(self, t_s: float) -> int:
        """Phase bucket of a timestamp (epoch seconds, UTC)."""
        phase = math.fmod(t_s, self.period_s) / self.period_s
        return min(int(phase * self.n_buckets), self.n_buckets - 1) if phase >= 0 else 0

    def predict(self, t_s: float) -> float | None:
        """The bucket's mean, or None while it has been seen fewer than ``min_visits`` times."""
        b = self.bucket(t_s)
        return self.means[b] if self.visits[b] >= self.min_visits else None

    def learn_one(self, t_s: float, x: float) -> None:
        """Fold ``x`` into its bucket's mean."""
        b = self.bucket(t_s)
        if self.visits[b] == 0:
            self.means[b] = x
        else:
            self.means[b] += self.alpha * (x - self.means[b])
        self.visits[b] = min(self.visits[b] + 1, VISITS_CAP)

    def saved(self) -> SavedProfile:
        """The state as a document (:mod:`~otel_perf.processors.anomaly.saved`)."""
        return SavedProfile(
            self.period_s,
            self.n_buckets,
            self.alpha,
            self.min_visits,
            list(self.means),
            list(self.visits),
        )

    @classmethod
    def resume(cls, saved: SavedProfile) -> SeasonalProfile:
        """Continue from :meth:`saved`."""
        profile = cls(saved.period_s, saved.n_buckets, saved.alpha, saved.min_visits)
        profile.means = array("d", saved.means)
        profile.visits = array("B", [min(v, VISITS_CAP) for v in saved.visits])
        return profile
