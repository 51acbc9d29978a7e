"""Arithmetic on received metric points shared by processors: cumulative-to-delta,
threshold counts and quantiles of explicit-bucket and exponential histograms."""

from __future__ import annotations

import bisect
from collections import OrderedDict
from dataclasses import replace
from typing import Any

from otel_perf.histogram import ExponentialHistogram
from otel_perf.model import ExponentialBuckets, MetricPoint, MetricType


def explicit_at_or_below(
    bounds: tuple[float, ...],
    counts: tuple[int, ...],
    threshold: float,
    low: float | None = None,
    high: float | None = None,
) -> float:
    """Values ≤ threshold in an explicit-bucket histogram (bucket i is (b[i-1], b[i]]).

    Exact when the threshold is a bound; inside a bucket, linear interpolation
    between its bounds (the first bucket starts at ``low`` or 0, the overflow
    bucket ends at ``high``; without ``high`` none of it counts as good).
    """
    i = bisect.bisect_left(bounds, threshold)
    below = float(sum(counts[:i]))
    if i < len(bounds) and bounds[i] == threshold:
        return below + counts[i]
    if i >= len(counts) or counts[i] == 0:
        return below
    lower = bounds[i - 1] if i > 0 else (low if low is not None else 0.0)
    upper = bounds[i] if i < len(bounds) else high
    if upper is None or upper <= lower:
        return below
    fraction = min(1.0, max(0.0, (threshold - lower) / (upper - lower)))
    return below + counts[i] * fraction


class MetricStreams:
    """Cumulative-to-delta for received streams, bounded (least recently seen dropped)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._last: OrderedDict[tuple[object, ...], MetricPoint] = OrderedDict()
        self.dropped = 0

    def delta(self, point: MetricPoint) -> MetricPoint | None:
        """The point itself when it is a delta; else its difference from the last one."""
        if point.temporality != 2:  # not cumulative
            return point
        key = (
            point.name,
            point.resource.service_name,
            tuple(sorted(point.attributes.items())),
            point.start_ns,
        )
        previous = self._last.get(key)
        self._last[key] = point
        self._last.move_to_end(key)
        if len(self._last) > self.limit:
            self._last.popitem(last=False)
            self.dropped += 1
        if previous is None:
            return None  # the first cumulative point only sets the baseline
        return _difference(point, previous)


def _difference(point: MetricPoint, previous: MetricPoint) -> MetricPoint | None:
    if point.type in (MetricType.SUM,):
        value = (point.value or 0.0) - (previous.value or 0.0)
        return None if value < 0 else _replace(point, value=value)
    if point.type == MetricType.HISTOGRAM and point.bounds == previous.bounds:
        return _histogram_difference(point, previous)
    if point.type == MetricType.EXPONENTIAL_HISTOGRAM and point.scale == previous.scale:
        return _exponential_difference(point, previous)
    return None  # a changed scale or layout: skip one point rather than guess


def _histogram_difference(point: MetricPoint, previous: MetricPoint) -> MetricPoint | None:
    """Explicit buckets on the same bounds, bucket by bucket; None on a reset."""
    counts = tuple(a - b for a, b in zip(point.bucket_counts, previous.bucket_counts, strict=False))
    if min(counts, default=0) < 0:
        return None  # a reset: skip one point rather than invent counts
    return _replace(
        point,
        count=point.count - previous.count,
        bucket_counts=counts,
        sum=_sum_difference(point, previous),
        min=None,
        max=None,
    )


def _exponential_difference(point: MetricPoint, previous: MetricPoint) -> MetricPoint | None:
    """Exponential buckets on the same scale, aligned by offset; None on a reset."""
    positive = _bucket_difference(point.positive, previous.positive)
    negative = _bucket_difference(point.negative, previous.negative)
    if positive is None or negative is None or point.zero_count < previous.zero_count:
        return None
    return _replace(
        point,
        count=point.count - previous.count,
        positive=positive,
        negative=negative,
        zero_count=point.zero_count - previous.zero_count,
        sum=_sum_difference(point, previous),
        min=None,
        max=None,
    )


def _sum_difference(point: MetricPoint, previous: MetricPoint) -> float | None:
    return None if point.sum is None or previous.sum is None else point.sum - previous.sum


def _bucket_difference(
    current: ExponentialBuckets | None, before: ExponentialBuckets | None
) -> ExponentialBuckets | None:
    """current − before on the same scale, aligned by offset; None if any count would drop."""
    if current is None or before is None:
        return current if before is None or not any(before.counts) else None
    low = min(current.offset, before.offset)
    high = max(current.offset + len(current.counts), before.offset + len(before.counts))
    counts = [0] * (high - low)
    for i, c in enumerate(current.counts):
        counts[current.offset - low + i] += c
    for i, c in enumerate(before.counts):
        counts[before.offset - low + i] -= c
    if min(counts, default=0) < 0:
        return None
    return ExponentialBuckets(low, tuple(counts))


def _replace(point: MetricPoint, **changes: Any) -> MetricPoint:
    return replace(point, **changes)


def exponential(point: MetricPoint) -> ExponentialHistogram | None:
    if point.positive is None:
        return None
    negative = point.negative
    return ExponentialHistogram.from_otlp(
        point.scale,
        point.zero_count,
        point.positive.offset,
        point.positive.counts,
        negative.offset if negative else 0,
        negative.counts if negative else (),
        point.count,
        point.sum,
        point.min,
        point.max,
    )


def unit_scale(unit: str) -> float:
    """Multiplier from seconds to a metric's unit (UCUM: s, ms, us, ns)."""
    return {"s": 1.0, "ms": 1e3, "us": 1e6, "µs": 1e6, "ns": 1e9}.get(unit, 1.0)


def explicit_quantile(
    bounds: tuple[float, ...],
    counts: tuple[int, ...],
    q: float,
    low: float | None = None,
    high: float | None = None,
) -> float:
    """The q-quantile of an explicit-bucket histogram, linear inside the bucket holding it.

    The first bucket starts at ``low`` (or 0), the overflow bucket ends at ``high``
    (or its lower bound, so a quantile there reads as that bound). NaN when empty.
    """
    total = sum(counts)
    if total == 0:
        return float("nan")
    rank = q * total
    seen = 0
    for i, count in enumerate(counts):
        if count and seen + count >= rank:
            lower = bounds[i - 1] if i > 0 else (low if low is not None else 0.0)
            upper = bounds[i] if i < len(bounds) else (high if high is not None else lower)
            return lower + (upper - lower) * max(0.0, rank - seen) / count
        seen += count
    return high if high is not None else bounds[-1]


def point_value(point: MetricPoint, quantile: float = 0.95) -> float | None:
    """A gauge's value, a (delta) sum's value, or a histogram point's ``quantile``."""
    if point.type in (MetricType.GAUGE, MetricType.SUM):
        return point.value
    if point.type == MetricType.HISTOGRAM:
        return explicit_quantile(point.bounds, point.bucket_counts, quantile, point.min, point.max)
    if point.type == MetricType.EXPONENTIAL_HISTOGRAM:
        hist = exponential(point)
        return None if hist is None or hist.is_empty else hist.quantile(quantile)
    return None
