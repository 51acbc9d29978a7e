"""The detector's models: each turns one series into a surprise per point, in bounded state.

Every model has the same small surface, after river's anomaly detectors: ``score_one(t_s, x)``
judges a point *before* it is learned (no look-ahead), ``learn_one(t_s, x)`` folds it in,
``saved`` / ``resume`` round-trip the state through a typed document (JSON through
:mod:`otel_perf.codec`). State is a fixed number of floats
(plus ``n_buckets`` per seasonal period), whatever the length of the series, and every call costs
the same whatever has been seen.

Two kinds of output: :class:`PredictorBank` and :class:`MultiScaleZ` return a *raw surprise*
``z ≥ 0`` (a robust z-score) that :class:`~otel_perf.processors.anomaly.likelihood.Likelihood`
turns into a tail probability; :class:`FlatLine` and :class:`RangeNovelty` return one directly
(as ``log10 q``).
"""

from __future__ import annotations

import math
from typing import Literal

from otel_perf.processors.anomaly.saved import (
    SavedBank,
    SavedFlat,
    SavedRange,
    SavedShift,
    direction,
    finite_or_none,
    or_inf,
    or_nan,
)
from otel_perf.processors.anomaly.seasonal import SeasonalProfile

Direction = Literal["both", "up", "down"]

MIN_POINTS_PER_PERIOD = 12
Z_CAP = 20.0  # one wild point may not dominate the long fit
REPEAT_FLOOR = 0.01  # the smallest repeat rate assumed, so k repeats score at most 10^-2k
MAE_TO_SD = 1.2533  # σ / mean absolute deviation of a Gaussian


def _signed(residual: float, direction: Direction) -> float:
    if direction == "up":
        return max(residual, 0.0)
    if direction == "down":
        return min(residual, 0.0)
    return residual


class PredictorBank:
    """One-step predictors side by side; the point is judged by the one that has erred least.

    Predictors ``x̂_i``: the last value, an EWMA ``l ← l + α_l (x − l)``, and one seasonal
    profile per period in ``seasonality_s`` the sampling step resolves (≥ 12 points a period).
    Each keeps its mean absolute error ``e_i ← e_i + max(α_e, 1/n_i) (|x' − x̂_i| − e_i)``
    and learns ``x' = x̂_i + clip(x − x̂_i, ±c (e_i + ε))`` (Huber's ψ, after Gelper et al.,
    2010, robust Holt–Winters; ``c = clip``, ∞ by default): a burst does not drag the
    forecasts and inflate the errors of the points after it (the last value is kept raw).
    With ``b = argmin_i e_i`` (among predictors with ≥ 12 errors), the surprise is

        ``z = min(|x − x̂_b| / (e_b + ε), 20)``,  ``ε = 10⁻³ · mean |x|``

    one-sided when ``direction`` says so (a rise is also measured from the slow level, so the
    recovery from a dip is no rise). The band the last point was expected in is
    ``x̂_b ± (3 · 1.2533 · e_b + ε)``.

    >>> m = PredictorBank(seasonality_s=(), direction="both")
    >>> for i in range(100):
    ...     m.learn_one(60.0 * i, 10.0 + (i % 2))
    >>> round(m.score_one(6000.0, 10.5), 2), round(m.score_one(6000.0, 30.0), 1)
    (0.15, 20.0)
    """

    __slots__ = (
        "seasonality_s",
        "direction",
        "level_alpha",
        "error_alpha",
        "seasonal_alpha",
        "max_buckets",
        "clip",
        "clip_run",
        "judge_ratio",
        "outside",
        "n",
        "last_t_s",
        "last_x",
        "level",
        "magnitude",
        "slow_level",
        "profiles",
        "errors",
        "error_counts",
        "judge",
        "_predictions",
        "_forecast_t_s",
        "_forecast_n",
    )

    def __init__(
        self,
        seasonality_s: tuple[float, ...] = (),
        direction: Direction = "both",
        level_alpha: float = 0.3,
        error_alpha: float = 0.005,
        seasonal_alpha: float = 0.2,
        max_buckets: int = 336,
        clip: float = math.inf,
        clip_run: int = 1,
        judge_ratio: float = 1.0,
    ) -> None:
        self.judge_ratio = judge_ratio
        self.seasonality_s = seasonality_s
        self.clip = clip
        self.clip_run = clip_run
        self.outside = 0  # consecutive points beyond the clip of the EWMA
        self.direction: Direction = direction
        self.level_alpha = level_alpha
        self.error_alpha = error_alpha
        self.seasonal_alpha = seasonal_alpha
        self.max_buckets = max_buckets
        self.n = 0
        self.last_t_s = math.nan
        self.last_x = math.nan
        self.level = 0.0
        self.magnitude = 0.0  # EW mean of |x|, the scale of the tolerance ε
        self.slow_level = 0.0  # EW mean of x at the error's rate
        self.profiles: list[SeasonalProfile] = []
        self.errors: list[float] = [0.0, 0.0]  # last value, level, then one per profile
        self.error_counts: list[int] = [0, 0]
        self.judge = -1  # the predictor that judged the last point, -1 if none could
        self._predictions: list[float | None] = [None, None]
        self._forecast_t_s = math.nan
        self._forecast_n = -1

    def predictions(self, t_s: float) -> list[float | None]:
        """Each predictor's forecast for ``t_s`` (None while it cannot predict)."""
        if self.n == 0:
            return [None] * len(self.errors)
        return [self.last_x, self.level, *(p.predict(t_s) for p in self.profiles)]

    def _forecast(self, t_s: float) -> list[float | None]:
        # score_one then learn_one at the same point share one forecast
        if t_s != self._forecast_t_s or self.n != self._forecast_n:
            self._predictions = self.predictions(t_s)
            self._forecast_t_s, self._forecast_n = t_s, self.n
        return self._predictions

    def best(self, predictions: list[float | None]) -> int:
        """Index of the predictor with the lowest error so far, -1 if none is ready."""
        best = -1
        for i, prediction in enumerate(predictions):
            if prediction is None or self.error_counts[i] < MIN_POINTS_PER_PERIOD:
                continue
            if best < 0 or self.errors[i] < self.errors[best]:
                best = i
        return best

    def name(self, index: int) -> str:
        """Human name of predictor ``index``."""
        if index < 2:
            return ("last_value", "ewma")[index]
        period_s = self.profiles[index - 2].period_s
        return f"seasonal_{period_s / 3600:g}h"

    def band(self) -> tuple[float, float]:
        """``(low, high)``: where the last scored point was expected (by predictor ``judge``)."""
        b = self.judge
        centre = self._predictions[b] if b >= 0 else None
        if centre is None:
            return -math.inf, math.inf
        spread = 3.0 * MAE_TO_SD * self.errors[b] + self._epsilon()
        return centre - spread, centre + spread

    def _epsilon(self) -> float:
        return 1e-3 * self.magnitude + 1e-12

    def score_one(self, t_s: float, x: float) -> float:
        """The surprise ``z`` of ``x`` at ``t_s`` (not learned)."""
        predictions = self._forecast(t_s)
        b = self.judge = self.best(predictions)
        if b < 0:
            return 0.0
        residual = x - predictions[b]  # type: ignore[operator]
        if self.direction == "up":
            residual = max(min(residual, x - self.slow_level), 0.0)
        elif self.direction == "down":
            residual = min(max(residual, x - self.slow_level), 0.0)
        z = min(abs(residual) / (self.errors[b] + self._epsilon()), Z_CAP)
        if self.judge_ratio > 1.0:
            # a point a nearly-as-good seasonal profile expected is no surprise
            for i, prediction in enumerate(predictions):
                if i == b or i < 2 or prediction is None:
                    continue
                if self.error_counts[i] < MIN_POINTS_PER_PERIOD:
                    continue
                if self.errors[i] <= self.judge_ratio * self.errors[b]:
                    z_i = self._z(i, x, prediction)
                    if z_i < z:
                        z, self.judge = z_i, i
        return z

    def _z(self, i: int, x: float, prediction: float | None) -> float:
        residual = x - prediction  # type: ignore[operator]
        if self.direction == "up":
            residual = max(min(residual, x - self.slow_level), 0.0)
        elif self.direction == "down":
            residual = min(max(residual, x - self.slow_level), 0.0)
        return min(abs(residual) / (self.errors[i] + self._epsilon()), Z_CAP)

    def learn_one(self, t_s: float, x: float) -> None:
        """Fold ``x`` into every predictor and its error (clipped at ``clip`` errors)."""
        predictions = self._forecast(t_s)
        if self.clip < math.inf:
            self._learn_clipped(t_s, x, predictions)
        else:
            for i, prediction in enumerate(predictions):
                if prediction is not None:
                    self.error_counts[i] += 1
                    rate = max(self.error_alpha, 1.0 / self.error_counts[i])
                    self.errors[i] += rate * (abs(x - prediction) - self.errors[i])
            if self.n == 1 and t_s > self.last_t_s:
                self._start_profiles(t_s - self.last_t_s)
            for profile in self.profiles:
                profile.learn_one(t_s, x)
            self.level = x if self.n == 0 else self.level + self.level_alpha * (x - self.level)
        self.n += 1
        rate = max(self.error_alpha, 1.0 / self.n)
        self.magnitude += rate * (abs(x) - self.magnitude)
        self.slow_level += rate * (x - self.slow_level)
        self.last_t_s, self.last_x = t_s, x

    def _learn_clipped(self, t_s: float, x: float, predictions: list[float | None]) -> None:
        """:meth:`learn_one`'s predictors and errors, each learning ``x`` clipped."""
        cleaned = [x] * len(self.errors)
        self._clean(x, predictions, cleaned)
        for i, prediction in enumerate(predictions):
            if prediction is not None:
                self.error_counts[i] += 1
                rate = max(self.error_alpha, 1.0 / self.error_counts[i])
                self.errors[i] += rate * (abs(cleaned[i] - prediction) - self.errors[i])
        if self.n == 1 and t_s > self.last_t_s:
            self._start_profiles(t_s - self.last_t_s)
        for k, profile in enumerate(self.profiles, 2):  # profiles start at the 2nd point
            profile.learn_one(t_s, cleaned[k] if k < len(cleaned) else x)
        level_x = cleaned[1]
        self.level = x if self.n == 0 else self.level + self.level_alpha * (level_x - self.level)

    def _clean(self, x: float, predictions: list[float | None], cleaned: list[float]) -> None:
        """``cleaned[i]``: ``x`` within ``clip`` errors of forecast ``i`` (Huber's ψ)."""
        epsilon = self._epsilon()
        ewma = predictions[1]
        far = ewma is not None and abs(x - ewma) > self.clip * (self.errors[1] + epsilon)
        self.outside = self.outside + 1 if far else 0
        if self.outside > self.clip_run:
            return  # the third point in a row beyond: a new level, learnt as it is
        for i, prediction in enumerate(predictions):
            if prediction is None or self.error_counts[i] < MIN_POINTS_PER_PERIOD:
                continue
            limit = self.clip * (self.errors[i] + epsilon)
            cleaned[i] = prediction + max(-limit, min(limit, x - prediction))

    def _start_profiles(self, step_s: float) -> None:
        for period_s in self.seasonality_s:
            points = round(period_s / step_s)
            if points >= MIN_POINTS_PER_PERIOD:
                buckets = min(points, self.max_buckets)
                self.profiles.append(
                    SeasonalProfile(period_s, buckets, self.seasonal_alpha, min_visits=1)
                )
                self.errors.append(0.0)
                self.error_counts.append(0)

    def saved(self) -> SavedBank:
        """The state as a document (:mod:`~otel_perf.processors.anomaly.saved`)."""
        return SavedBank(
            list(self.seasonality_s),
            self.direction,
            self.level_alpha,
            self.error_alpha,
            self.seasonal_alpha,
            self.max_buckets,
            self.n,
            finite_or_none(self.last_t_s),
            finite_or_none(self.last_x),
            self.level,
            self.magnitude,
            self.slow_level,
            [p.saved() for p in self.profiles],
            list(self.errors),
            list(self.error_counts),
            finite_or_none(self.clip),
            self.clip_run,
            self.judge_ratio,
            self.outside,
        )

    @classmethod
    def resume(cls, saved: SavedBank) -> PredictorBank:
        """Continue from :meth:`saved`."""
        m = cls(
            tuple(saved.seasonality_s),
            direction(saved.direction),
            saved.level_alpha,
            saved.error_alpha,
            saved.seasonal_alpha,
            saved.max_buckets,
            or_inf(saved.clip),
            saved.clip_run,
            saved.judge_ratio,
        )
        m.outside, m.n = saved.outside, saved.n
        m.last_t_s, m.last_x = or_nan(saved.last_t_s), or_nan(saved.last_x)
        m.level, m.magnitude, m.slow_level = saved.level, saved.magnitude, saved.slow_level
        m.profiles = [SeasonalProfile.resume(p) for p in saved.profiles]
        m.errors, m.error_counts = list(saved.errors), list(saved.error_counts)
        return m


class MultiScaleZ:
    """Robust z-score of a short mean against a slow baseline: level shifts that persist.

    A fast mean ``f ← f + α_f (x − f)`` and a slow mean ``s ← s + α_s (x − s)`` (both
    ``max(α, 1/n)``, exact running means at first); the slow mean absolute deviation
    ``d ← d + α_s (|x − s| − d)``. A persistent shift moves ``f`` away from ``s`` within about
    ``1/α_f`` points while ``s`` and ``d`` lag, so

        ``z = min(|f − s| / (d · √(α_f / (2 − α_f)) + ε), 20)``

    (the denominator is the spread of ``f`` under no change, ``ε = 10⁻³ · mean |x|``) grows
    with the shift; one-sided when ``direction`` says so. With a finite ``clip`` every point
    is first held within ``clip · (d + ε)`` of ``s``, so a lone burst moves ``f`` a little and
    a shift that lasts still moves it all the way. The slow scale catches what the
    one-step predictors adapt to too fast: a series that settles at a new level.

    >>> m = MultiScaleZ(fast_alpha=0.1, slow_alpha=0.01)
    >>> for i in range(300):
    ...     m.learn_one(float(i), 10.0 + (i % 2))
    >>> round(m.score_one(300.0, 10.5), 1)
    0.2
    >>> for i in range(300, 320):
    ...     m.learn_one(float(i), 14.0 + (i % 2))
    >>> m.score_one(320.0, 14.5) > 5.0
    True
    """

    __slots__ = (
        "fast_alpha",
        "slow_alpha",
        "direction",
        "clip",
        "n",
        "fast",
        "slow",
        "deviation",
        "magnitude",
        "noise",
    )

    def __init__(
        self,
        fast_alpha: float = 0.1,
        slow_alpha: float = 0.005,
        direction: Direction = "both",
        clip: float = math.inf,
    ) -> None:
        self.clip = clip
        self.fast_alpha = fast_alpha
        self.slow_alpha = slow_alpha
        self.direction: Direction = direction
        self.n = 0
        self.fast = 0.0
        self.slow = 0.0
        self.deviation = 0.0
        self.magnitude = 0.0
        self.noise = math.sqrt(fast_alpha / (2.0 - fast_alpha))

    def _cleaned(self, x: float) -> float:
        if self.n < MIN_POINTS_PER_PERIOD:
            return x
        limit = self.clip * (self.deviation + 1e-3 * self.magnitude + 1e-12)
        return self.slow + max(-limit, min(limit, x - self.slow))

    def score_one(self, t_s: float, x: float) -> float:
        """The surprise ``z`` of the fast mean once ``x`` is in it (nothing is learned)."""
        if self.n < 2:
            return 0.0
        if self.clip < math.inf:
            x = self._cleaned(x)
        fast = self.fast + max(self.fast_alpha, 1.0 / (self.n + 1)) * (x - self.fast)
        shift = _signed(fast - self.slow, self.direction)
        scale = self.deviation * self.noise + 1e-3 * self.magnitude + 1e-12
        return min(abs(shift) / scale, Z_CAP)

    def learn_one(self, t_s: float, x: float) -> None:
        """Fold ``x`` into both means and the deviation."""
        if self.clip < math.inf:
            x = self._cleaned(x)
        self.n += 1
        slow_rate = max(self.slow_alpha, 1.0 / self.n)
        if self.n > 1:
            self.deviation += slow_rate * (abs(x - self.slow) - self.deviation)
        self.fast += max(self.fast_alpha, 1.0 / self.n) * (x - self.fast)
        self.slow += slow_rate * (x - self.slow)
        self.magnitude += slow_rate * (abs(x) - self.magnitude)

    def band(self) -> tuple[float, float]:
        """Where the fast mean is expected: ``s ± 3 · 1.2533 · d · √(α_f / (2 − α_f))``."""
        spread = 3.0 * MAE_TO_SD * self.deviation * self.noise
        return self.slow - spread, self.slow + spread

    def saved(self) -> SavedShift:
        """The state as a document (:mod:`~otel_perf.processors.anomaly.saved`)."""
        return SavedShift(
            self.fast_alpha,
            self.slow_alpha,
            self.direction,
            self.n,
            self.fast,
            self.slow,
            self.deviation,
            self.magnitude,
            finite_or_none(self.clip),
        )

    @classmethod
    def resume(cls, saved: SavedShift) -> MultiScaleZ:
        """Continue from :meth:`saved`."""
        m = cls(saved.fast_alpha, saved.slow_alpha, direction(saved.direction), or_inf(saved.clip))
        m.n, m.fast, m.slow = saved.n, saved.fast, saved.slow
        m.deviation, m.magnitude = saved.deviation, saved.magnitude
        return m


class FlatLine:
    """A series that freezes: a run of repeats longer than any seen is improbable.

    ``p`` is the learned rate of repeats (``x_t = x_t-1``), ``L`` the longest run that has
    ended (forgotten slowly, ``L ← max(λ L, run)``). A run ``k`` points long has tail
    probability ``q = max(p, 0.01)^(k − L)`` once ``k > L``, else 1; it is reported once per run.
    ``score_one`` returns ``log10 q``.

    >>> m = FlatLine()
    >>> for i in range(200):
    ...     m.learn_one(float(i), float(i % 5))
    >>> for i in range(200, 204):
    ...     m.learn_one(float(i), 7.0)
    >>> m.score_one(204.0, 7.0) < -6.0
    True
    """

    __slots__ = (
        "repeat_alpha",
        "run_decay",
        "n",
        "last_x",
        "repeat_rate",
        "run",
        "longest_run",
        "reported",
    )

    def __init__(self, repeat_alpha: float = 0.002, run_decay: float = 0.999) -> None:
        self.repeat_alpha = repeat_alpha
        self.run_decay = run_decay
        self.n = 0
        self.last_x = math.nan
        self.repeat_rate = 0.5
        self.run = 0
        self.longest_run = 0.0  # of the runs that have ended, slowly forgotten
        self.reported = False  # this run has already been reported

    def _repeats(self, x: float) -> bool:
        return self.n > 0 and abs(x - self.last_x) <= 1e-12 * (1.0 + abs(x))

    def score_one(self, t_s: float, x: float) -> float:
        """``log10 q`` of the run ``x`` extends (0 when it is no surprise)."""
        if not self._repeats(x) or self.reported:
            return 0.0
        excess = self.run + 1 - self.longest_run
        return excess * math.log10(max(self.repeat_rate, REPEAT_FLOOR)) if excess > 0 else 0.0

    def learn_one(self, t_s: float, x: float, reported: bool = False) -> None:
        """Fold ``x`` in; ``reported`` marks the current run as already alerted on."""
        repeated = self._repeats(x)
        self.n += 1
        if self.n > 1:
            rate = max(self.repeat_alpha, 1.0 / self.n)
            self.repeat_rate += rate * (float(repeated) - self.repeat_rate)
        if repeated:
            self.run += 1
            self.reported = self.reported or reported
        else:
            self.longest_run = max(self.longest_run * self.run_decay, float(self.run))
            self.run, self.reported = 0, False
        self.last_x = x

    def saved(self) -> SavedFlat:
        """The state as a document (:mod:`~otel_perf.processors.anomaly.saved`)."""
        return SavedFlat(
            self.repeat_alpha,
            self.run_decay,
            self.n,
            finite_or_none(self.last_x),
            self.repeat_rate,
            self.run,
            self.longest_run,
            self.reported,
        )

    @classmethod
    def resume(cls, saved: SavedFlat) -> FlatLine:
        """Continue from :meth:`saved`."""
        m = cls(saved.repeat_alpha, saved.run_decay)
        m.n, m.last_x, m.repeat_rate = saved.n, or_nan(saved.last_x), saved.repeat_rate
        m.run, m.longest_run, m.reported = saved.run, saved.longest_run, saved.reported
        return m


class RangeNovelty:
    """A value beyond everything the series has shown: HTM's "spatial anomaly".

    Running extremes ``lo ≤ x ≤ hi`` of the values learned so far; a point beyond them by more
    than a tolerance is news whatever any predictor expected:

        ``log10 q = −10 · max(e, 0) / (τ · (hi − lo + ε))``,  ``e = max(x − hi, lo − x)``

    (``q`` reaches 10⁻¹⁰ a fraction ``τ`` of the range beyond it;
    one-sided when ``direction`` says so). Nothing is judged before ``min_points`` points: the
    extremes of a short stretch of noise are broken often, those of a long one seldom.

    >>> m = RangeNovelty(tolerance=0.1)
    >>> for i in range(50):
    ...     m.learn_one(float(i), float(i % 10))
    >>> m.log10_tail(9.0) == 0.0, round(m.log10_tail(9.45), 6), round(m.log10_tail(18.0))
    (True, -5.0, -100)
    """

    __slots__ = ("tolerance", "direction", "min_points", "n", "lo", "hi")

    def __init__(
        self, tolerance: float = 0.1, direction: Direction = "both", min_points: int = 2
    ) -> None:
        self.tolerance = tolerance
        self.direction: Direction = direction
        self.min_points = max(min_points, 2)
        self.n = 0
        self.lo = math.inf
        self.hi = -math.inf

    def log10_tail(self, x: float) -> float:
        """``log10 q`` of ``x`` (0 inside the range seen, or before ``min_points`` points)."""
        if self.n < self.min_points:
            return 0.0
        excess = _signed(max(x - self.hi, 0.0) - max(self.lo - x, 0.0), self.direction)
        width = self.tolerance * (self.hi - self.lo + 1e-9 * (1.0 + abs(self.hi)))
        return -10.0 * abs(excess) / width

    def score_one(self, t_s: float, x: float) -> float:
        """``log10 q`` of ``x`` at ``t_s`` (not learned)."""
        return self.log10_tail(x)

    def learn_one(self, t_s: float, x: float) -> None:
        """Widen the range to take ``x`` in."""
        self.n += 1
        self.lo, self.hi = min(self.lo, x), max(self.hi, x)

    def band(self) -> tuple[float, float]:
        """The range seen so far."""
        return self.lo, self.hi

    def saved(self) -> SavedRange:
        """The state as a document (:mod:`~otel_perf.processors.anomaly.saved`)."""
        lo, hi = finite_or_none(self.lo), finite_or_none(self.hi)
        return SavedRange(self.tolerance, self.direction, self.min_points, self.n, lo, hi)

    @classmethod
    def resume(cls, saved: SavedRange) -> RangeNovelty:
        """Continue from :meth:`saved`."""
        m = cls(saved.tolerance, direction(saved.direction), saved.min_points)
        m.n = saved.n
        m.lo = math.inf if saved.lo is None else saved.lo
        m.hi = -math.inf if saved.hi is None else saved.hi
        return m
