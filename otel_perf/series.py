"""The series layer: what one processor derives for others.

Span metrics publish one :class:`SeriesInterval` per closed interval (10 s, and
the 1 min and 1 h rollups); SLO, anomaly, regression and capacity processors
and the exporters subscribe. Processors never call each other: this hub, owned
by the pipeline and run on the pipeline thread, is the only path between them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from otel_perf.histogram import ExponentialHistogram

log = logging.getLogger("otel_perf.series")

OVERFLOW_ATTRIBUTE = "otel.metric.overflow"


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """One span-metrics series: service, operation (span name), kind and dimensions."""

    service: str
    operation: str
    span_kind: int = 0
    dims: tuple[tuple[str, str], ...] = ()

    @property
    def is_overflow(self) -> bool:
        return (OVERFLOW_ATTRIBUTE, "true") in self.dims

    def label(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in self.dims)
        return f"{self.service} {self.operation}" + (f" [{extra}]" if extra else "")

    def to_dict(self) -> dict[str, object]:
        return {
            "service": self.service,
            "operation": self.operation,
            "span_kind": self.span_kind,
            "dims": dict(self.dims),
        }


@dataclass(slots=True)
class RED:
    """Rate, errors, duration of one series over one interval (durations in seconds)."""

    calls: int = 0
    errors: int = 0
    duration_s: ExponentialHistogram = field(default_factory=ExponentialHistogram)

    def merge(self, other: RED) -> None:
        self.calls += other.calls
        self.errors += other.errors
        self.duration_s.merge(other.duration_s)

    def copy(self) -> RED:
        return RED(self.calls, self.errors, self.duration_s.copy())

    def to_dict(self) -> dict[str, object]:
        return {"calls": self.calls, "errors": self.errors, "duration_s": self.duration_s.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> RED:
        hist = data["duration_s"]
        assert isinstance(hist, dict)
        return cls(
            int(str(data["calls"])), int(str(data["errors"])), ExponentialHistogram.from_dict(hist)
        )


@dataclass(frozen=True, slots=True)
class SeriesInterval:
    """All series of one closed interval ``[start_ns, end_ns)`` at one resolution."""

    start_ns: int
    end_ns: int
    resolution_s: int
    values: dict[SeriesKey, RED]
    source: str = ""
    rollup: bool = False  # a merge of base intervals already published

    def __iter__(self) -> Iterator[tuple[SeriesKey, RED]]:
        return iter(self.values.items())


Subscriber = Callable[[SeriesInterval], None]


class SeriesHub:
    """Fan-out of closed intervals to subscribers, in subscription order."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self.errors = 0

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber(interval)`` for every interval published; returns an unsubscribe."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def publish(self, interval: SeriesInterval) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(interval)
            except Exception:  # one subscriber's bug must not starve the others
                self.errors += 1
                log.exception("series subscriber %r failed", subscriber)
