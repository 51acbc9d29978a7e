"""One watched series: its detector, expected range, and current episode.

A series' first points are held as raw numbers (:data:`DEFERRED_POINTS` at most, 24 bytes
a point) and its :class:`Detector` (~14 KB once its seasonal profiles start) is built,
and those points replayed into it, only when the next point arrives, or when its view
or the detector itself is asked for. Every point deferred so is inside the warm-up,
where the score is 0 and no episode can open, and replaying them gives the detector,
band and history that scoring them one by one gives: only the memory differs. At high
cardinality most series have a handful of points (a 10 s interval gives a series 6 an
minute), so most never build a detector until they have traffic worth one.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from otel_perf.codec import decode, encode
from otel_perf.findings import Finding, Kind, Severity, State
from otel_perf.processors.anomaly.config import AnomalyConfig, Direction
from otel_perf.processors.anomaly.detector import (
    DEFAULT_THRESHOLD,
    Detector,
    DetectorSettings,
    robust,
)
from otel_perf.processors.anomaly.history import Entry, History

NS = 1_000_000_000
DEFERRED_POINTS = 32  # raw points a series holds before its detector is built
EWMA_ALPHA = 0.05  # the expected range reported with findings: ~20-point memory


@dataclass(frozen=True)
class Settings:
    """The resolved settings of one series."""

    threshold: float
    direction: Direction
    warm_up: int
    resolve_after: int
    history_points: int = 120
    robust: bool = True


def threshold_for(sensitivity: str) -> float:
    """The score threshold of a named sensitivity.

    Scores are −log10(tail probability) / 10 (with half the second most surprised model's
    added, ``combine.py``), so ±0.15 moves the tail probability that alerts by a factor of
    ~30: one model alone alerts at low 10⁻⁷, medium 10⁻⁵·⁵, high 10⁻⁴.
    """
    return DEFAULT_THRESHOLD + {"low": 0.15, "medium": 0.0, "high": -0.15}[sensitivity]


def settings_for(name: str, config: AnomalyConfig) -> Settings | None:
    """The settings of series ``name``, or None when it is not covered."""
    if not any(fnmatchcase(name, p) for p in config.include):
        return None
    if any(fnmatchcase(name, p) for p in config.exclude):
        return None
    rule = next((r for r in config.rules if fnmatchcase(name, r.match)), None)
    sensitivity = (rule.sensitivity if rule else None) or config.sensitivity
    threshold = rule.threshold if rule and rule.threshold else threshold_for(sensitivity)
    return Settings(
        threshold=threshold,
        direction=(rule.direction if rule else None) or config.direction,
        warm_up=rule.warm_up if rule and rule.warm_up is not None else config.warm_up,
        resolve_after=config.resolve_after,
        history_points=config.history_points,
        robust=config.robust if rule is None or rule.robust is None else rule.robust,
    )


@dataclass
class Episode:
    start_ns: int
    max_score: float
    direction: str
    points: int = 1


@dataclass
class SavedSeries:
    """A series' saved document (:meth:`SeriesState.to_dict`, through :mod:`otel_perf.codec`):
    the detector (its own compact form), the band's running figures, the open episode and
    the history. A document saved before a field existed takes its default."""

    detector: Detector
    points: int
    mean: float
    var: float
    last_t_ns: int
    last_score: float
    last_value: float | None = None  # None: not a finite number
    normal_streak: int = 0
    episode: Episode | None = None
    history: list[Entry] = field(default_factory=list)
    model: str = "none"
    band: tuple[float | None, float | None] | None = None  # None: unbounded on that side


@dataclass
class SavedPoints:
    """The saved document of a series whose detector is not built yet: its deferred
    ``[t_ns, value, count]`` points (count null when none)."""

    deferred: list[tuple[int, float, float | None]]


@dataclass(slots=True)  # tens of thousands at cardinality: no __dict__ each
class SeriesState:
    name: str
    service: str
    settings: Settings
    built: Detector | None  # None while the first points wait in ``deferred``
    points: int = 0
    mean: float = 0.0
    var: float = 0.0
    last_score: float = 0.0
    last_t_ns: int = 0
    normal_streak: int = 0
    episode: Episode | None = None
    dirty: bool = False
    last_value: float = field(default=math.nan)
    history: History = field(default_factory=lambda: History(1))
    band: tuple[float, float] = (-math.inf, math.inf)  # the last point's expected band
    model: str = "none"  # the model that judged the last point
    deferred: Deferred | None = None  # the points not yet given to a detector
    relearned: bool = False  # restored under changed settings: the detector starts afresh

    @classmethod
    def new(cls, name: str, service: str, settings: Settings) -> SeriesState:
        deferred = Deferred() if min(DEFERRED_POINTS, settings.warm_up) > 0 else None
        built = None if deferred is not None else new_detector(settings)
        # a series scores nothing while its points wait: its history is made with its detector
        history = History(settings.history_points) if deferred is None else NO_HISTORY
        return cls(name, service, settings, built, history=history, deferred=deferred)

    @property
    def detector(self) -> Detector:
        """The series' detector, built (and the deferred points replayed) on first use."""
        if self.built is None:
            self._build()
        assert self.built is not None
        return self.built

    def observe(
        self, t_ns: int, value: float, source: str, count: float | None = None
    ) -> Finding | None:
        """Score one point (in event-time order; older points are skipped).

        ``count``: the denominator of a ratio series (the calls of an error ratio).
        """
        if t_ns <= self.last_t_ns:
            return None
        deferred = self.deferred
        if deferred is not None and self.points < min(DEFERRED_POINTS, self.settings.warm_up):
            # inside the warm-up the score is 0: the point waits, raw, for the detector
            deferred.append(t_ns, value, count)
            self.last_t_ns, self.last_score, self.last_value = t_ns, 0.0, value
            self.points += 1
            self.dirty = True
            return None
        detector = self.detector
        fallback = self.expected()
        score = detector.score_one(t_ns / NS, value, count)
        judgement = detector.explain()
        low, high = judgement.expected_low, judgement.expected_high
        if not (math.isfinite(low) and math.isfinite(high)):
            low, high = fallback  # no model has a band yet: the EWMA's ±3σ
        self.band, self.model = (low, high), judgement.model
        self._learn(value)
        self.history.append(t_ns, value, low, high, score)
        self.last_t_ns, self.last_score, self.last_value = t_ns, score, value
        self.points += 1
        self.dirty = True
        direction = "up" if value > (low + high) / 2 else "down"
        # warm-up, direction and the refractory period live in the detector, as in NAB
        anomalous = score >= self.settings.threshold
        return self._episode(anomalous, t_ns, value, score, direction, (low, high), source)

    def _build(self) -> None:
        """Build the detector and score the deferred points into it, as observed live."""
        deferred, self.deferred = self.deferred, None
        self.built = new_detector(self.settings)
        self.history = History(self.settings.history_points)
        if deferred is None:
            return
        dirty, self.points, self.last_t_ns = self.dirty, 0, 0
        for t_ns, value, count in deferred:
            self.observe(t_ns, value, "", count)  # warm-up: scores 0, no episode
        self.dirty = dirty

    def _learn(self, value: float) -> None:
        if self.points == 0:
            self.mean, self.var = value, 0.0
            return
        delta = value - self.mean
        self.mean += EWMA_ALPHA * delta
        self.var = (1 - EWMA_ALPHA) * (self.var + EWMA_ALPHA * delta * delta)

    def expected(self) -> tuple[float, float]:
        spread = 3 * math.sqrt(self.var)
        return self.mean - spread, self.mean + spread

    def _episode(
        self,
        anomalous: bool,
        t_ns: int,
        value: float,
        score: float,
        direction: str,
        expected: tuple[float, float],
        source: str,
    ) -> Finding | None:
        if anomalous:
            self.normal_streak = 0
            if self.episode is None:
                self.episode = Episode(t_ns, score, direction)
                return self._finding(State.OPEN, t_ns, value, score, expected, source)
            self.episode.points += 1
            self.episode.max_score = max(self.episode.max_score, score)
            return None
        if self.episode is None:
            return None
        self.normal_streak += 1
        if self.normal_streak < self.settings.resolve_after:
            return None
        finding = self._finding(State.RESOLVED, t_ns, value, score, expected, source)
        self.episode = None
        return finding

    def _finding(
        self,
        state: State,
        t_ns: int,
        value: float,
        score: float,
        expected: tuple[float, float],
        source: str,
    ) -> Finding:
        episode = self.episode
        assert episode is not None
        low, high = expected
        opened = state == State.OPEN
        since = datetime.fromtimestamp(episode.start_ns / NS, UTC).isoformat()
        summary = (
            f"{self.name}: {value:.6g} outside the expected {low:.6g}–{high:.6g} "
            f"since {since}, judged by {self.model} (score {score:.4f}, {episode.direction})"
            if opened
            else f"{self.name}: back to normal after {(t_ns - episode.start_ns) / NS:.0f} s "
            f"(peak score {episode.max_score:.4f})"
        )
        return Finding(
            kind=Kind.ANOMALY_DETECTED,
            severity=(Severity.CRITICAL if score >= 0.9999 else Severity.WARNING)
            if opened
            else Severity.INFO,
            service=self.service,
            subject=self.name,
            time_ns=t_ns,
            summary=summary,
            attributes={
                "series": self.name,
                "value": value,
                "expected_low": low,
                "expected_high": high,
                "score": score,
                "max_score": episode.max_score,
                "direction": episode.direction,
                "start_ns": episode.start_ns,
                "since": since,
                "model": self.model,
                "points": episode.points,
            },
            source=source,
            state=state,
        )

    def _replayed(self) -> SeriesState:
        """This series as it would be with its detector built (self unchanged)."""
        if self.deferred is None:
            return self
        scratch = SeriesState.new(self.name, self.service, self.settings)
        scratch.deferred = self.deferred.copy()
        scratch._build()
        return scratch

    def view(self) -> dict[str, Any]:
        if self.deferred is not None:
            return self._replayed().view()
        low, high = self.band if all(map(math.isfinite, self.band)) else self.expected()
        return {
            "series": self.name,
            "service": self.service,
            "score": self.last_score,
            "value": self.last_value,
            "expected_low": low,
            "expected_high": high,
            "model": self.model,
            "points": self.points,
            "episode": None if self.episode is None else asdict(self.episode),
            "history": self.history.view(),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state (:class:`SavedSeries`): the detector, the band, the open episode
        and the history. A series whose detector is not built yet saves its deferred points
        instead (:class:`SavedPoints`)."""
        if self.deferred is not None:
            return dict(encode(SavedPoints, SavedPoints(list(self.deferred))))
        low, high = (v if math.isfinite(v) else None for v in self.band)
        saved = SavedSeries(
            self.detector,
            self.points,
            self.mean,
            self.var,
            self.last_t_ns,
            self.last_score,
            self.last_value if math.isfinite(self.last_value) else None,
            self.normal_streak,
            self.episode,
            [e for e in self.history if all(map(math.isfinite, e[1:]))],
            self.model,
            (low, high),
        )
        return dict(encode(SavedSeries, saved))

    def restore(self, data: dict[str, Any]) -> None:
        """Continue from :meth:`to_dict` (state saved before episodes were kept restores too).

        A detector saved under other settings (the series' rule, sensitivity or threshold
        changed in the config since) is not continued: its learned numbers were scored
        against other settings, so the series learns afresh under the current ones — warm-up
        included, so a config change cannot make a restart alarm. ``relearned`` says so.
        """
        if isinstance(data, dict) and "deferred" in data:
            fresh = SeriesState.new(self.name, self.service, self.settings)
            for t_ns, value, count in decode(SavedPoints, data).deferred:
                fresh.observe(t_ns, value, "", count)
            self._take(fresh)
            self.dirty = False  # as saved
            return
        self._resume(decode(SavedSeries, data))

    def _resume(self, saved: SavedSeries) -> None:
        self.deferred = None
        self.relearned = saved.detector.config != detector_settings(self.settings)
        self.built = new_detector(self.settings) if self.relearned else saved.detector
        self.points, self.mean, self.var = saved.points, saved.mean, saved.var
        self.last_t_ns, self.last_score = saved.last_t_ns, saved.last_score
        self.last_value = math.nan if saved.last_value is None else saved.last_value
        self.normal_streak, self.episode = saved.normal_streak, saved.episode
        self.history = History(self.settings.history_points)
        self.history.restore(saved.history)
        self.model = saved.model
        low, high = saved.band or (None, None)
        self.band = (-math.inf if low is None else low, math.inf if high is None else high)

    def _take(self, other: SeriesState) -> None:
        for name in SeriesState.__dataclass_fields__:
            setattr(self, name, getattr(other, name))


def detector_settings(settings: Settings) -> DetectorSettings:
    """What the detector of a series of ``settings`` runs with."""
    base = DetectorSettings(
        threshold=settings.threshold,
        warm_up=settings.warm_up,
        direction=settings.direction,
    )
    return robust(base) if settings.robust else base


def new_detector(settings: Settings) -> Detector:
    """A fresh detector for a series of ``settings``."""
    return Detector(detector_settings(settings))


class _NoHistory(History):
    """The history of a series whose detector is not built yet: empty, shared by them all
    (two empty arrays a series, ~240 B, at 10,000 series waiting)."""

    __slots__ = ()

    def append(self, t_ns: int, value: float, lower: float, upper: float, score: float) -> None:
        raise RuntimeError("a series scores no point before its detector is built")

    def restore(self, rows: list[Any]) -> None:
        raise RuntimeError("a series restores its history with its detector")


NO_HISTORY = _NoHistory(1)


class Deferred:
    """Points waiting for a series' detector: times, values and counts in flat arrays."""

    __slots__ = ("times_ns", "numbers")

    def __init__(self) -> None:
        self.times_ns = array("q")
        self.numbers = array("d")  # value, count (NaN: none) of point i at 2i, 2i + 1

    def append(self, t_ns: int, value: float, count: float | None) -> None:
        self.times_ns.append(t_ns)
        self.numbers.extend((value, math.nan if count is None else count))

    def __len__(self) -> int:
        return len(self.times_ns)

    def __iter__(self) -> Iterator[tuple[int, float, float | None]]:
        numbers = self.numbers
        for i, t_ns in enumerate(self.times_ns):
            count = numbers[2 * i + 1]
            yield t_ns, numbers[2 * i], None if math.isnan(count) else count

    def copy(self) -> Deferred:
        twin = Deferred()
        twin.times_ns, twin.numbers = array("q", self.times_ns), array("d", self.numbers)
        return twin
