"""The series layer: what one processor derives for others.

Span metrics publish one :class:`SeriesInterval` per closed interval (10 s, and
the 1 min and 1 h rollups); SLO, anomaly, regression and capacity processors
and the exporters subscribe. Processors never call each other: this hub, owned
by the pipeline and run on the pipeline thread, is the only path between them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from otel_perf.codec import OMIT_EMPTY, decode, encode
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
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        # a key is looked up in dicts for every span: hash its fields once, not per lookup
        fields = (self.service, self.operation, self.span_kind, self.dims)
        object.__setattr__(self, "_hash", hash(fields))

    def __hash__(self) -> int:
        return self._hash

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


NO_WITHIN: Mapping[float, int] = MappingProxyType({})
"""The ``within`` of a RED without latency thresholds: one shared empty map, not a dict each."""


@dataclass(slots=True)
class RED:
    """Rate, errors, duration of one series over one interval (durations in seconds)."""

    calls: int = 0
    errors: int = 0
    duration_s: ExponentialHistogram = field(default_factory=ExponentialHistogram)
    #: calls with duration <= threshold (s), exact, for spanmetrics' ``latency_thresholds``;
    #: replaced when it changes, never changed in place (the empty one is shared, and left
    #: out of the saved document)
    within: Mapping[float, int] = field(
        default_factory=lambda: NO_WITHIN, metadata={OMIT_EMPTY: True}
    )

    def merge(self, other: RED) -> None:
        self.calls += other.calls
        self.errors += other.errors
        self.duration_s.merge(other.duration_s)
        if other.within:
            self.within = add_within(self.within, other.within)

    def copy(self) -> RED:
        within = dict(self.within) if self.within else NO_WITHIN
        return RED(self.calls, self.errors, self.duration_s.copy(), within)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, through :mod:`otel_perf.codec` (``within`` left out while empty)."""
        return encode(RED, self)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RED:
        """What :meth:`to_dict` wrote; other keys beside it (a series row's ``key``) are not
        read.

        Raises:
            StateError: naming the path that does not fit.
        """
        return decode(RED, {name: data[name] for name in _RED_FIELDS if name in data})


_RED_FIELDS = tuple(f.name for f in fields(RED))


def add_within(within: Mapping[float, int], more: Mapping[float, int]) -> dict[float, int]:
    """``within`` with ``more``'s counts added, as a new dict."""
    out = dict(within)
    for threshold, count in more.items():
        out[threshold] = out.get(threshold, 0) + count
    return out


@dataclass(frozen=True, slots=True)
class SeriesInterval:
    """All series of one closed interval ``[start_ns, end_ns)`` at one resolution."""

    start_ns: int
    end_ns: int
    resolution_s: int
    values: Mapping[SeriesKey, RED]
    source: str = ""
    rollup: bool = False  # a merge of base intervals already published
    #: merged from trace-tier aggregates (``processors/aggregates``), not counted from spans
    #: here: processors that count spans themselves (slo, regression) read these instead
    aggregated: bool = False
    #: with ``aggregated``: each series split by ``service.version`` (what version
    #: comparisons need); empty when the trace tier does not key by version
    versions: dict[SeriesKey, dict[str, RED]] = field(default_factory=dict)

    def __iter__(self) -> Iterator[tuple[SeriesKey, RED]]:
        return iter(self.values.items())


@dataclass(frozen=True, slots=True)
class CriticalPathInterval:
    """One closed bottlenecks window's mergeable sums: per (service, operation) the
    critical-path ns, self-time ns and traces on whose critical path it was; plus the
    window's analysed traces and their total critical-path ns. Sums of ints: exact merges."""

    start_ns: int
    end_ns: int
    traces: int
    critical_total_ns: int
    operations: dict[tuple[str, str], tuple[int, int, int]]
    source: str = ""


Subscriber = Callable[[SeriesInterval], None]
CriticalPathSubscriber = Callable[[CriticalPathInterval], None]
WatermarkSubscriber = Callable[[str, int], None]


class SeriesHub:
    """Fan-out of closed intervals to subscribers, in subscription order.

    Two side channels serve the trace tier's exporter: closed bottlenecks windows
    (``publish_critical_path``) and each span-metrics source's watermark
    (``advance_watermark``: every interval ending at or before it is closed, so an
    interval it never published was empty).
    """

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._critical_path: list[CriticalPathSubscriber] = []
        self._watermark: list[WatermarkSubscriber] = []
        self.errors = 0

    def subscribe_critical_path(self, subscriber: CriticalPathSubscriber) -> Callable[[], None]:
        """Call ``subscriber(window)`` for every closed bottlenecks window."""
        self._critical_path.append(subscriber)
        return lambda: self._critical_path.remove(subscriber)

    def publish_critical_path(self, window: CriticalPathInterval) -> None:
        for subscriber in list(self._critical_path):
            self._call(subscriber, window)

    def subscribe_watermark(self, subscriber: WatermarkSubscriber) -> Callable[[], None]:
        """Call ``subscriber(source, watermark_ns)`` whenever a source's watermark moves."""
        self._watermark.append(subscriber)
        return lambda: self._watermark.remove(subscriber)

    def advance_watermark(self, source: str, watermark_ns: int) -> None:
        for subscriber in list(self._watermark):
            self._call(subscriber, source, watermark_ns)

    def _call(self, subscriber: Callable[..., None], *args: object) -> None:
        try:
            subscriber(*args)
        except Exception:  # one subscriber's bug must not starve the others
            self.errors += 1
            log.exception("series subscriber %r failed", subscriber)

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
