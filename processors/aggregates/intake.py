"""Received metric points that are trace-tier aggregates, read back into typed parts.

Pure: points in, parts out, with a message per point that claims to be an aggregate but
cannot be read (missing instance, unknown kind, inconsistent histogram).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from otel_perf import tiers
from otel_perf.component.metricmath import exponential
from otel_perf.histogram import ExponentialHistogram
from otel_perf.model import AttrValue, MetricPoint, MetricType
from otel_perf.series import RED, SeriesKey

SERIES_NAMES = frozenset({tiers.CALLS, tiers.DURATION, tiers.WITHIN})
WINDOW_NAMES = frozenset(
    {tiers.CRITICAL_PATH, tiers.SELF_TIME, tiers.ON_PATH, tiers.WINDOW_TOTAL, tiers.WINDOW_TRACES}
)
NAMES = SERIES_NAMES | WINDOW_NAMES | {tiers.WATERMARK}
KINDS = {name: index for index, name in enumerate(tiers.SPAN_KINDS)}


class NotAnAggregate(ValueError):
    """A point named like an aggregate that cannot be read; the message says why."""


@dataclass(frozen=True, slots=True)
class SeriesPart:
    """One instance's contribution to one series of one interval (one version)."""

    instance: str
    start_ns: int
    end_ns: int
    key: SeriesKey
    version: str | None
    red: RED


@dataclass(slots=True)
class WindowPart:
    """Sums for one bottlenecks window: totals and per-operation rows."""

    start_ns: int
    end_ns: int
    traces: int = 0
    critical_total_ns: int = 0
    operations: dict[tuple[str, str], list[int]] = field(default_factory=dict)


def instance_of(point: MetricPoint) -> str:
    value = point.attributes.get(tiers.INSTANCE)
    if not isinstance(value, str) or not value:
        raise NotAnAggregate(f"{point.name}: attribute {tiers.INSTANCE} missing")
    return value


def series_part(point: MetricPoint) -> SeriesPart:
    """A calls, within or duration point as a RED holding only what that point says."""
    attrs = point.attributes
    operation, kind_name = attrs.get(tiers.SPAN_NAME), attrs.get(tiers.SPAN_KIND)
    if not isinstance(operation, str) or kind_name not in KINDS:
        raise NotAnAggregate(f"{point.name}: needs span.name and a span.kind like SPAN_KIND_SERVER")
    key = SeriesKey(point.service_name, operation, KINDS[str(kind_name)], _dims(attrs))
    version = point.resource.service_version
    return SeriesPart(instance_of(point), point.start_ns, point.time_ns, key, version, _red(point))


def _dims(attrs: dict[str, AttrValue] | object) -> tuple[tuple[str, str], ...]:
    assert isinstance(attrs, dict)
    return tuple((k, str(v)) for k, v in attrs.items() if k not in tiers.NOT_DIMS)


def _red(point: MetricPoint) -> RED:
    if point.name == tiers.DURATION:
        if point.type != MetricType.EXPONENTIAL_HISTOGRAM:
            raise NotAnAggregate(f"{point.name}: expected an exponential histogram")
        try:
            hist = exponential(point)
        except ValueError as exc:
            raise NotAnAggregate(f"{point.name}: {exc}") from None
        return RED(duration_s=hist if hist is not None else ExponentialHistogram())
    count = _count(point)
    if point.name == tiers.WITHIN:
        threshold = point.attributes.get(tiers.THRESHOLD)
        if not isinstance(threshold, float | int):
            raise NotAnAggregate(f"{point.name}: attribute {tiers.THRESHOLD} missing")
        return RED(within={float(threshold): count})
    error = point.attributes.get(tiers.STATUS) == tiers.STATUS_ERROR
    return RED(calls=count, errors=count if error else 0)


def _count(point: MetricPoint) -> int:
    if point.type != MetricType.SUM or point.value is None or point.temporality != 1:
        raise NotAnAggregate(f"{point.name}: expected a delta sum")
    if point.value < 0 or point.value != int(point.value):
        raise NotAnAggregate(f"{point.name}: expected a count, got {point.value}")
    return int(point.value)


def add_window_point(
    windows: dict[tuple[int, int], WindowPart], point: MetricPoint, max_operations: int
) -> None:
    """Add one bottlenecks point into its window's sums (at most ``max_operations`` rows)."""
    value = _count(point)
    window = windows.setdefault(
        (point.start_ns, point.time_ns), WindowPart(point.start_ns, point.time_ns)
    )
    if point.name == tiers.WINDOW_TOTAL:
        window.critical_total_ns += value
    elif point.name == tiers.WINDOW_TRACES:
        window.traces += value
    else:
        operation = point.attributes.get(tiers.SPAN_NAME)
        if not isinstance(operation, str):
            raise NotAnAggregate(f"{point.name}: attribute {tiers.SPAN_NAME} missing")
        key = (point.service_name, operation)
        if key not in window.operations and len(window.operations) >= max_operations:
            raise NotAnAggregate(f"{point.name}: more than {max_operations} operations")
        row = window.operations.setdefault(key, [0, 0, 0])
        index = {tiers.CRITICAL_PATH: 0, tiers.SELF_TIME: 1, tiers.ON_PATH: 2}[point.name]
        row[index] += value


def watermark(point: MetricPoint) -> tuple[str, str, int]:
    """(instance, source, watermark_ns) of a watermark point."""
    source = point.attributes.get(tiers.SOURCE)
    if not isinstance(source, str):
        raise NotAnAggregate(f"{point.name}: attribute {tiers.SOURCE} missing")
    return instance_of(point), source, point.time_ns  # the int field: exact
