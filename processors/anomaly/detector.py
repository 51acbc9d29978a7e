"""Streaming anomaly detector for one metric series: ``score_one(t_s, x)`` → score in ``[0, 1]``.

Each point is scored first, then learned (no look-ahead):

1. **Baselines.** Several one-step predictors run side by side: the last value, a fast EWMA,
   and one :class:`~otel_perf.processors.anomaly.seasonal.SeasonalProfile` per configured
   period (day, week) that the sampling interval resolves (≥ 12 points per period). Each keeps
   an exponentially weighted mean absolute error ``e_i``; the point is judged by the predictor
   with the lowest ``e_i`` so far, so seasonality is used once it predicts better than the
   recent level, and dropped again after a level shift until it relearns.
2. **Raw score.** ``z = |x − x̂| / (e + ε)`` (only the side asked for by ``direction``).
3. **Likelihood.** ``z`` is averaged over a short span and compared with a long Gaussian fit of
   that average (:mod:`~otel_perf.processors.anomaly.likelihood`): the tail probability ``q``.
4. **Flat-lining.** A run of ``k`` repeated values has probability ``p^k``, ``p`` being the
   series' learned rate of repeats; a series that freezes is flagged after a few points.
5. **Score** ``−log10(min(q, p^k)) / 10`` clipped to ``[0, 1]``, zero during warm-up; after a
   score at or above the threshold, scores are damped for ``refractory`` points, since only
   the first alert of an episode is news.

State is a fixed number of floats plus ``n_buckets ≤ max_buckets`` per period: independent of
the history length, and JSON-ready through :meth:`Detector.to_dict`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from otel_perf.processors.anomaly.likelihood import GaussianTail, log_score
from otel_perf.processors.anomaly.seasonal import SeasonalProfile

DEFAULT_THRESHOLD = 0.5
DAY_S = 86400.0
WEEK_S = 7 * DAY_S
MIN_POINTS_PER_PERIOD = 12
Z_CAP = 20.0  # one wild point may not dominate the long fit
REPEAT_FLOOR = 0.01  # the smallest repeat rate assumed, so k repeats score at most 10^-2k

Direction = Literal["both", "up", "down"]


@dataclass(frozen=True)
class DetectorSettings:
    """Tuning of :class:`Detector`; the defaults were chosen on the NAB development subset."""

    threshold: float = DEFAULT_THRESHOLD
    warm_up: int = 150
    direction: Direction = "both"
    seasonality_s: tuple[float, ...] = (DAY_S, WEEK_S)
    max_buckets: int = 336
    seasonal_alpha: float = 0.2
    level_alpha: float = 0.3
    error_alpha: float = 0.005
    short_span: int = 15
    long_alpha: float = 0.0005
    repeat_alpha: float = 0.002
    run_decay: float = 0.999
    refractory: int = 100
    refractory_factor: float = 0.0


class Detector:
    """Online anomaly scorer with bounded state; see the module docstring for the method.

    >>> d = Detector(seed=0)
    >>> scores = [d.score_one(60.0 * i, 10.0 + (i % 7) * 0.1) for i in range(400)]
    >>> max(scores) < DEFAULT_THRESHOLD, d.score_one(24000.0, 50.0) >= DEFAULT_THRESHOLD
    (True, True)
    """

    def __init__(self, config: DetectorSettings | None = None, seed: int = 0) -> None:
        self.config = config or DetectorSettings()
        self.seed = seed  # the method is deterministic; kept for the common contract
        self.n = 0
        self.last_t_s = math.nan
        self.last_x = math.nan
        self.level = 0.0
        self.magnitude = 0.0  # EW mean of |x|, the scale of the tolerance ε
        self.slow_level = 0.0  # EW mean of x at the error's rate
        self.profiles: list[SeasonalProfile] = []
        self.errors: list[float] = [0.0, 0.0]  # last value, level, then one per profile
        self.error_counts: list[int] = [0, 0]
        self.average = 0.0
        self.fit = GaussianTail(self.config.long_alpha, min_var=1e-2)
        self.repeat_rate = 0.5
        self.run = 0
        self.longest_run = 0.0  # of the runs that have ended, slowly forgotten
        self.run_alerted = False
        self.cooldown = 0

    def score_one(self, t_s: float, x: float) -> float:
        """Score ``x`` observed at ``t_s`` (epoch seconds), then learn from it."""
        if not (math.isfinite(t_s) and math.isfinite(x)):
            return 0.0
        predictions = self._predictions(t_s)
        z = self._raw_score(x, predictions)
        average = self.average + 2.0 / (self.config.short_span + 1) * (z - self.average)
        repeated = self.n > 0 and abs(x - self.last_x) <= 1e-12 * (1.0 + abs(x))
        run = self.run + 1 if repeated else 0
        tail = self.fit.tail(average) if self.n > 0 else 1.0
        excess = run - self.longest_run
        if excess > 0 and not self.run_alerted:
            tail = min(tail, max(self.repeat_rate, REPEAT_FLOOR) ** excess)
        score = log_score(tail) if self.n >= self.config.warm_up else 0.0
        score = self._refractory(score)
        self.run_alerted = bool(run) and (self.run_alerted or score >= self.config.threshold)
        self._learn(t_s, x, predictions, average, repeated, run)
        return score

    def label(self, score: float) -> bool:
        """Whether a score is an anomaly at the configured threshold."""
        return score >= self.config.threshold

    def _predictions(self, t_s: float) -> list[float | None]:
        if self.n == 0:
            return [None] * len(self.errors)
        return [self.last_x, self.level, *(p.predict(t_s) for p in self.profiles)]

    def _raw_score(self, x: float, predictions: list[float | None]) -> float:
        best: int | None = None
        for i, prediction in enumerate(predictions):
            if prediction is None or self.error_counts[i] < MIN_POINTS_PER_PERIOD:
                continue
            if best is None or self.errors[i] < self.errors[best]:
                best = i
        if best is None:
            return 0.0
        residual = x - predictions[best]  # type: ignore[operator]
        # one-sided: also beyond the slow level, so the recovery from a dip is no rise
        if self.config.direction == "up":
            residual = max(min(residual, x - self.slow_level), 0.0)
        elif self.config.direction == "down":
            residual = min(max(residual, x - self.slow_level), 0.0)
        epsilon = 1e-3 * self.magnitude + 1e-12
        return min(abs(residual) / (self.errors[best] + epsilon), Z_CAP)

    def _refractory(self, score: float) -> float:
        if self.cooldown > 0:
            self.cooldown -= 1
            score *= self.config.refractory_factor
        if score >= self.config.threshold:
            self.cooldown = self.config.refractory
        return score

    def _learn(
        self,
        t_s: float,
        x: float,
        predictions: list[float | None],
        average: float,
        repeated: bool,
        run: int,
    ) -> None:
        cfg = self.config
        for i, prediction in enumerate(predictions):
            if prediction is not None:
                self.error_counts[i] += 1
                rate = max(cfg.error_alpha, 1.0 / self.error_counts[i])
                self.errors[i] += rate * (abs(x - prediction) - self.errors[i])
        if self.n == 1 and t_s > self.last_t_s:
            self._start_profiles(t_s - self.last_t_s)
        for profile in self.profiles:
            profile.learn_one(t_s, x)
        self.n += 1
        rate = 1.0 / self.n
        self.level = x if self.n == 1 else self.level + cfg.level_alpha * (x - self.level)
        self.magnitude += max(cfg.error_alpha, rate) * (abs(x) - self.magnitude)
        self.slow_level += max(cfg.error_alpha, rate) * (x - self.slow_level)
        if self.n > 1:
            self.repeat_rate += max(cfg.repeat_alpha, rate) * (float(repeated) - self.repeat_rate)
            self.fit.learn_one(average)
        if run == 0:  # a run just ended, or none is going on
            self.longest_run = max(self.longest_run * cfg.run_decay, float(self.run))
        self.average, self.run = average, run
        self.last_t_s, self.last_x = t_s, x

    def _start_profiles(self, step_s: float) -> None:
        for period_s in self.config.seasonality_s:
            points = round(period_s / step_s)
            if points >= MIN_POINTS_PER_PERIOD:
                buckets = min(points, self.config.max_buckets)
                self.profiles.append(
                    SeasonalProfile(period_s, buckets, self.config.seasonal_alpha, min_visits=1)
                )
                self.errors.append(0.0)
                self.error_counts.append(0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state (settings included)."""
        settings = asdict(self.config)
        settings["seasonality_s"] = list(self.config.seasonality_s)
        return {
            "config": settings,
            "seed": self.seed,
            "n": self.n,
            "last_t_s": _json_float(self.last_t_s),
            "last_x": _json_float(self.last_x),
            "level": self.level,
            "magnitude": self.magnitude,
            "slow_level": self.slow_level,
            "profiles": [p.to_dict() for p in self.profiles],
            "errors": list(self.errors),
            "error_counts": list(self.error_counts),
            "average": self.average,
            "fit": self.fit.to_dict(),
            "repeat_rate": self.repeat_rate,
            "run": self.run,
            "longest_run": self.longest_run,
            "run_alerted": self.run_alerted,
            "cooldown": self.cooldown,
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Detector:
        """Rebuild a detector from :meth:`to_dict`; it continues exactly where it stopped."""
        settings = dict(state["config"])
        settings["seasonality_s"] = tuple(float(p) for p in settings["seasonality_s"])
        detector = cls(DetectorSettings(**settings), seed=int(state["seed"]))
        detector.n = int(state["n"])
        detector.last_t_s = _float_or_nan(state["last_t_s"])
        detector.last_x = _float_or_nan(state["last_x"])
        detector.level = float(state["level"])
        detector.magnitude = float(state["magnitude"])
        detector.slow_level = float(state["slow_level"])
        detector.profiles = [SeasonalProfile.from_dict(p) for p in state["profiles"]]
        detector.errors = [float(e) for e in state["errors"]]
        detector.error_counts = [int(c) for c in state["error_counts"]]
        detector.average = float(state["average"])
        detector.fit = GaussianTail.from_dict(state["fit"])
        detector.repeat_rate = float(state["repeat_rate"])
        detector.run = int(state["run"])
        detector.longest_run = float(state["longest_run"])
        detector.run_alerted = bool(state["run_alerted"])
        detector.cooldown = int(state["cooldown"])
        return detector


def _json_float(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _float_or_nan(value: float | None) -> float:
    return math.nan if value is None else float(value)
