"""Reading the cache telemetry of ``otel_perf.cache`` (spans and metrics) into counters.

Attribute values come from the wire: numbers are taken only when they are numbers,
enumerations only when they are known values, names are clipped.
"""

from __future__ import annotations

from collections.abc import Mapping

from otel_perf.model import AttrValue, MetricPoint, MetricType, SpanRecord
from otel_perf.processors.cache.analysis import Miss, Removal
from otel_perf.processors.cache.state import (
    MISS_REASONS,
    OPERATIONS,
    CacheStats,
    Cumulative,
    PrefixStats,
    known,
)

MAX_NAME_CHARS = 256
CACHE_SPANS = frozenset({"cache.get", "cache.put", "cache.remove", "cache.load"})
SPAN_ATTRIBUTES = frozenset(
    {
        "cache.name",
        "cache.key",
        "cache.key_prefix",
        "cache.hit",
        "cache.level",
        "cache.item_size",
        "cache.ttl",
        "cache.compressed",
        "cache.miss_reason",
        "cache.expired_ago_s",
        "cache.saved_ms",
        "cache.operation",
        "cache.entry_age_s",
        "cache.entry_hits",
        "cache.removed",
        "cache.tag",
        "cache.pattern",
    }
)
COUNTERS = frozenset({"cache.hits", "cache.misses", "cache.evictions", "cache.invalidations"})
GAUGES = frozenset({"cache.entries", "cache.size"})
LOAD_DURATION = "cache.load.duration"
METRICS = COUNTERS | GAUGES | {LOAD_DURATION}
LEVELS = ("l1", "l2")
EVICTION_REASONS = ("size", "ttl")


def text(attrs: Mapping[str, AttrValue], key: str) -> str | None:
    value = attrs.get(key)
    return value[:MAX_NAME_CHARS] if isinstance(value, str) and value else None


def number(attrs: Mapping[str, AttrValue], key: str) -> float | None:
    value = attrs.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value == value else None  # NaN is no number


def key_prefix(attrs: Mapping[str, AttrValue]) -> str:
    """``cache.key_prefix``, else the part of ``cache.key`` before the first ":"."""
    prefix = text(attrs, "cache.key_prefix")
    if prefix is not None:
        return prefix
    key = text(attrs, "cache.key")
    return "" if key is None else key.split(":", 1)[0]


def read_span(span: SpanRecord, cache: CacheStats) -> bool:
    """Count one cache span into ``cache``; False when it lacks what its name requires."""
    attrs = span.attributes
    if span.name == "cache.remove" and "cache.key" not in attrs and "cache.key_prefix" not in attrs:
        operation = known(attrs.get("cache.operation"), OPERATIONS)
        cache.keyless_removals[operation] += int(number(attrs, "cache.removed") or 0)
        return True
    stats = cache.prefix(key_prefix(attrs))
    trace_id = span.trace_id.hex()
    if span.name == "cache.get":
        return _get(attrs, stats, span.end_ns, trace_id)
    if span.name == "cache.put":
        _put(attrs, stats)
    elif span.name == "cache.load":
        stats.loads += 1
        stats.load_ms += max(span.duration_ns, 0) / 1e6
    else:
        _remove(attrs, stats, span.end_ns, trace_id)
    return True


def _get(attrs: Mapping[str, AttrValue], stats: PrefixStats, t_ns: int, trace_id: str) -> bool:
    hit = attrs.get("cache.hit")
    if hit is True:
        stats.hits += 1
        stats.l2_hits += attrs.get("cache.level") == "l2"
        stats.saved_ms += max(number(attrs, "cache.saved_ms") or 0.0, 0.0)
        return True
    if hit is not False:
        return False
    reason = known(attrs.get("cache.miss_reason"), MISS_REASONS)
    stats.misses += 1
    stats.misses_by_reason[reason] += 1
    stats.recent_misses.append(Miss(t_ns, reason, number(attrs, "cache.expired_ago_s"), trace_id))
    return True


def _put(attrs: Mapping[str, AttrValue], stats: PrefixStats) -> None:
    stats.puts += 1
    stats.put_bytes += int(max(number(attrs, "cache.item_size") or 0.0, 0.0))
    stats.compressed_puts += attrs.get("cache.compressed") is True
    ttl = number(attrs, "cache.ttl")
    if ttl is not None and ttl > 0:
        stats.recent_ttls.append(ttl)


def _remove(attrs: Mapping[str, AttrValue], stats: PrefixStats, t_ns: int, trace_id: str) -> None:
    operation = known(attrs.get("cache.operation"), OPERATIONS)
    removed = number(attrs, "cache.removed")
    stats.removals[operation] += 1 if removed is None else int(max(removed, 0))
    hits, age = number(attrs, "cache.entry_hits"), number(attrs, "cache.entry_age_s")
    if operation in ("delete", "tag", "pattern") and hits is not None and age is not None:
        stats.recent_removals.append(Removal(t_ns, operation, int(hits), age, trace_id))
        stats.removed_unread += hits == 0


def read_point(point: MetricPoint, cache: CacheStats, cumulative: Cumulative) -> None:
    """Count one point of the cache metrics into ``cache`` (SDK counters are cumulative)."""
    attrs = point.attributes
    cache.metrics_seen = True
    if point.name in GAUGES:
        level = known(attrs.get("cache.level", "l1"), LEVELS)
        target = cache.entries if point.name == "cache.entries" else cache.size_bytes
        if point.value is not None:
            target[level] = point.value
        return
    if point.name == LOAD_DURATION:
        if point.type in (MetricType.HISTOGRAM, MetricType.EXPONENTIAL_HISTOGRAM):
            count, total = _delta(point, cumulative, (float(point.count), point.sum or 0.0))
            cache.metric_loads += count
            cache.metric_load_ms += total * (1000.0 if point.unit == "s" else 1.0)
        return
    if point.type != MetricType.SUM or point.value is None:
        return
    (value,) = _delta(point, cumulative, (point.value,))
    if point.name == "cache.hits":
        cache.metric_hits += value
    elif point.name == "cache.misses":
        cache.metric_misses += value
    elif point.name == "cache.invalidations":
        cache.metric_invalidations += value
    else:
        reason = known(attrs.get("cache.eviction.reason"), EVICTION_REASONS)
        cache.metric_evictions[reason] = cache.metric_evictions.get(reason, 0.0) + value


def _delta(
    point: MetricPoint, cumulative: Cumulative, values: tuple[float, ...]
) -> tuple[float, ...]:
    if point.temporality != 2:  # delta (or unspecified, read as delta)
        return values
    key = Cumulative.key(point.name, point.service_name, dict(point.attributes))
    return cumulative.delta(key, point.start_ns, values)
