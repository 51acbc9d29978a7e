"""Compact records decoded once from OTLP; processors never see protobuf.

Batches, not single records, cross every boundary. Records use ``__slots__``
so a batch of 512 spans stays small and cheap to build.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from otel_perf.columns import SpanColumns

AttrValue = str | bool | int | float | bytes | list[Any] | dict[str, Any] | None


class SpanKind(IntEnum):
    """OTLP span kinds (the proto enum values)."""

    UNSPECIFIED = 0
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5


class StatusCode(IntEnum):
    """OTLP span status codes."""

    UNSET = 0
    OK = 1
    ERROR = 2


class MetricType(IntEnum):
    """The OTLP metric data kinds otel-perf keeps."""

    GAUGE = 1
    SUM = 2
    HISTOGRAM = 3
    EXPONENTIAL_HISTOGRAM = 4
    SUMMARY = 5


@dataclass(frozen=True, slots=True)
class Resource:
    """The entity that produced telemetry; shared by every record of one ResourceSpans."""

    attributes: Mapping[str, AttrValue]
    service_name: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        # read on every span by several processors: resolve it once per resource
        value = self.attributes.get("service.name")
        object.__setattr__(self, "service_name", str(value) if value else "unknown_service")

    @property
    def service_version(self) -> str | None:
        value = self.attributes.get("service.version")
        return None if value is None else str(value)


class SpanRecord:
    """One span, with the fields processors use.

    ``attributes`` holds only the keys the pipeline was asked to keep (see
    ``otel_perf.decode.SPAN_ATTRIBUTE_KEYS``); events are kept as (time_ns,
    name, attributes) triples because checkpoints and exceptions live there.
    """

    __slots__ = (
        "trace_id",
        "span_id",
        "parent_span_id",
        "resource",
        "scope_name",
        "name",
        "kind",
        "start_ns",
        "end_ns",
        "status_code",
        "status_message",
        "attributes",
        "events",
    )

    def __init__(
        self,
        trace_id: bytes,
        span_id: bytes,
        parent_span_id: bytes,
        resource: Resource,
        scope_name: str,
        name: str,
        kind: int,
        start_ns: int,
        end_ns: int,
        status_code: int,
        status_message: str,
        attributes: dict[str, AttrValue],
        events: tuple[tuple[int, str, dict[str, AttrValue]], ...] = (),
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_span_id = parent_span_id
        self.resource = resource
        self.scope_name = scope_name
        self.name = name
        self.kind = kind
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.status_code = status_code
        self.status_message = status_message
        self.attributes = attributes
        self.events = events

    @property
    def service_name(self) -> str:
        return self.resource.service_name

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    def __repr__(self) -> str:
        return (
            f"SpanRecord(service={self.service_name!r}, name={self.name!r}, "
            f"trace_id={self.trace_id.hex()}, span_id={self.span_id.hex()}, "
            f"duration_ns={self.duration_ns})"
        )


@dataclass(frozen=True, slots=True)
class ExponentialBuckets:
    """One side of an OTLP exponential histogram: an offset and bucket counts."""

    offset: int
    counts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One data point of a metric stream.

    ``value`` is set for gauges and sums; histogram kinds carry ``count``,
    ``sum`` and their buckets. ``start_ns`` is the cumulative start time when
    the sender set one, else 0.
    """

    resource: Resource
    name: str
    unit: str
    type: MetricType
    attributes: Mapping[str, AttrValue]
    time_ns: int
    start_ns: int = 0
    value: float | None = None
    is_monotonic: bool = False
    temporality: int = 0  # 1 delta, 2 cumulative (OTLP AggregationTemporality)
    count: int = 0
    sum: float | None = None
    min: float | None = None
    max: float | None = None
    bounds: tuple[float, ...] = ()
    bucket_counts: tuple[int, ...] = ()
    scale: int = 0
    zero_count: int = 0
    positive: ExponentialBuckets | None = None
    negative: ExponentialBuckets | None = None
    quantiles: tuple[tuple[float, float], ...] = ()

    @property
    def service_name(self) -> str:
        return self.resource.service_name


@dataclass(frozen=True, slots=True)
class LogRecordData:
    """One log record; ``event_name`` is set for OTel events."""

    resource: Resource
    time_ns: int
    severity_number: int
    severity_text: str
    body: AttrValue
    attributes: Mapping[str, AttrValue]
    event_name: str
    trace_id: bytes
    span_id: bytes

    @property
    def service_name(self) -> str:
        return self.resource.service_name


@dataclass(slots=True)
class SpanBatch:
    """Spans decoded from one request (or one replayed line).

    ``spans`` are the records processors read today; :meth:`columns` offers the same
    spans as columns (filled by the native decoder, else built on first use).
    """

    spans: list[SpanRecord] = field(default_factory=list)
    columnar: SpanColumns | None = field(default=None, repr=False, compare=False)
    wire_bytes: int = field(default=0, repr=False, compare=False)
    """The request it came from in bytes of protobuf, uncompressed (0: not from a receiver)."""

    def columns(self) -> SpanColumns:
        """The spans as :class:`~otel_perf.columns.SpanColumns`, row i being ``spans[i]``."""
        if self.columnar is None:
            from otel_perf.columns import from_records  # numpy only when asked for

            self.columnar = from_records(self.spans)
        return self.columnar

    def __len__(self) -> int:
        return len(self.spans)

    def __iter__(self) -> Iterator[SpanRecord]:
        return iter(self.spans)

    def max_time_ns(self) -> int:
        return max((s.end_ns for s in self.spans), default=0)


@dataclass(slots=True)
class MetricBatch:
    """Metric points decoded from one request."""

    points: list[MetricPoint] = field(default_factory=list)
    wire_bytes: int = field(default=0, repr=False, compare=False)
    """The request it came from in bytes of protobuf, uncompressed (0: not from a receiver)."""

    def __len__(self) -> int:
        return len(self.points)

    def __iter__(self) -> Iterator[MetricPoint]:
        return iter(self.points)

    def max_time_ns(self) -> int:
        return max((p.time_ns for p in self.points), default=0)


@dataclass(slots=True)
class LogBatch:
    """Log records decoded from one request."""

    records: list[LogRecordData] = field(default_factory=list)
    wire_bytes: int = field(default=0, repr=False, compare=False)
    """The request it came from in bytes of protobuf, uncompressed (0: not from a receiver)."""

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[LogRecordData]:
        return iter(self.records)

    def max_time_ns(self) -> int:
        return max((r.time_ns for r in self.records), default=0)


Batch = SpanBatch | MetricBatch | LogBatch
