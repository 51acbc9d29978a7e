"""Contributions of several trace-tier instances merged into one interval, exactly.

Counts add; histograms merge at their common scale (``ExponentialHistogram.merge``),
which gives the buckets one instance recording every value would hold. An interval
closes, in time order, once ``expected`` instances have reported a watermark at or past
its end (each instance closes intervals on its own event time and says so), or once
``now`` (event time) passes its end plus ``grace`` — then with whatever arrived.
A contribution for an interval already closed is counted in ``late`` and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from otel_perf.processors.aggregates.intake import SeriesPart
from otel_perf.series import RED, SeriesInterval, SeriesKey

NS = 1_000_000_000
K = TypeVar("K", SeriesKey, str)


@dataclass(slots=True)
class OpenInterval:
    start_ns: int
    end_ns: int
    values: dict[SeriesKey, RED] = field(default_factory=dict)
    versions: dict[SeriesKey, dict[str, RED]] = field(default_factory=dict)

    def to_series(self, source: str) -> SeriesInterval:
        resolution_s = max(1, (self.end_ns - self.start_ns) // NS)
        return SeriesInterval(
            self.start_ns, self.end_ns, resolution_s, self.values, source,
            aggregated=True, versions=self.versions,
        )  # fmt: skip


def _into(target: dict[K, RED], key: K, red: RED) -> None:
    current = target.get(key)
    if current is None:
        target[key] = red.copy()
    else:
        current.merge(red)


class IntervalMerger:
    """Open intervals by bounds, the instances' watermarks, and the closing rule.

    Args:
        expected: instances whose watermarks close an interval early.
        grace_ns: how long past its end an interval waits otherwise.
        max_instances / max_open / max_series: bounds (overflow counted).
    """

    def __init__(
        self, expected: int, grace_ns: int, max_instances: int, max_open: int, max_series: int
    ) -> None:
        self.expected = expected
        self.grace_ns = grace_ns
        self.max_instances = max_instances
        self.max_open = max_open
        self.max_series = max_series
        self.open: dict[tuple[int, int], OpenInterval] = {}
        self.marks: dict[str, dict[str, int]] = {}  # instance -> source -> watermark
        self.closed_ns = 0  # every interval ending at or before this has been published
        self.late = self.overflowed = self.untracked_instances = self.closed_early = 0
        self.closed = 0

    def add(self, part: SeriesPart) -> None:
        if part.end_ns <= self.closed_ns:
            self.late += 1
            return
        bounds = (part.start_ns, part.end_ns)
        interval = self.open.get(bounds)
        if interval is None:
            interval = self.open[bounds] = OpenInterval(*bounds)
        if part.key not in interval.values and len(interval.values) >= self.max_series:
            self.overflowed += 1
            return
        _into(interval.values, part.key, part.red)
        if part.version is not None:
            _into(interval.versions.setdefault(part.key, {}), part.version, part.red)

    def watermark(self, instance: str, source: str, watermark_ns: int) -> None:
        marks = self.marks.get(instance)
        if marks is None:
            if len(self.marks) >= self.max_instances:
                self.untracked_instances += 1
                return
            marks = self.marks[instance] = {}
        marks[source] = max(marks.get(source, 0), watermark_ns)

    def instance_watermark(self, instance: str) -> int:
        return min(self.marks[instance].values(), default=0)

    def close(self, now_ns: int, source: str) -> list[SeriesInterval]:
        """Intervals ready at event time ``now_ns``, oldest first."""
        marks = sorted((self.instance_watermark(i) for i in self.marks), reverse=True)
        complete_ns = marks[self.expected - 1] if len(marks) >= self.expected else 0
        out: list[SeriesInterval] = []
        for bounds in sorted(self.open):
            end = bounds[1]
            crowded = len(self.open) > self.max_open
            if not (end <= complete_ns or end + self.grace_ns <= now_ns or crowded):
                break
            self.closed_early += crowded
            out.append(self.open.pop(bounds).to_series(source))
            self.closed_ns = max(self.closed_ns, end)
        self.closed += len(out)
        return out

    def close_all(self, source: str) -> list[SeriesInterval]:
        """Every open interval (end of input)."""
        out = [self.open.pop(b).to_series(source) for b in sorted(self.open)]
        if out:
            self.closed_ns = max(self.closed_ns, out[-1].end_ns)
        self.closed += len(out)
        return out
