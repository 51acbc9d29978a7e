"""The rules of cache advice, as pure functions over recent evidence.

* :func:`ttl_too_short`: misses that re-fetch a key right after it expired.
* :func:`ttl_too_long`: entries removed by invalidation before anyone read them.
* :func:`cacheable`: the same read query, same text, repeated within a short horizon.

Nothing here reads the clock: ``now_ns`` comes in, and inputs are never mutated.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

NS = 1_000_000_000
MAX_TRACE_IDS = 5


class _Timed(Protocol):
    @property
    def time_ns(self) -> int: ...


T = TypeVar("T", bound=_Timed)


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile with linear interpolation between order statistics; NaN when empty.

    >>> quantile([1.0, 2.0, 3.0, 4.0], 0.5)
    2.5
    """
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def clamp(value: float, bounds: tuple[float, float]) -> float:
    return min(max(value, bounds[0]), bounds[1])


def per_minute(count: float, span_s: float) -> float:
    """A count over ``span_s`` seconds as a rate per minute (spans under 60 s count as 60 s,
    so a burst of a few seconds is not extrapolated to a minute)."""
    return count * 60.0 / max(span_s, 60.0)


@dataclass(frozen=True, slots=True)
class Miss:
    """One ``cache.get`` miss: when, why, and how long ago the key had expired."""

    time_ns: int
    reason: str
    expired_ago_s: float | None
    trace_id: str


@dataclass(frozen=True, slots=True)
class Removal:
    """One single-key removal by invalidation (delete, tag or pattern)."""

    time_ns: int
    operation: str
    entry_hits: int
    entry_age_s: float
    trace_id: str


@dataclass(frozen=True, slots=True)
class TTLRules:
    """The thresholds of TTL advice (see ``CacheProcessorConfig``)."""

    window_s: float
    min_events: int
    short_share: float
    refetch_after_expiry_s: float
    refetch_ttl_fraction: float
    margin: float
    long_share: float
    bounds: tuple[float, float]


@dataclass(frozen=True, slots=True)
class TTLAdvice:
    """A TTL to change, why, and what it is worth."""

    kind: str  # "ttl_too_short" | "ttl_too_long"
    current_ttl_s: float | None
    suggested_ttl_s: float
    share: float
    events: int
    total: int
    estimated_saving_ms_per_min: float
    estimated_saving_bytes: float
    trace_ids: tuple[str, ...]


def _recent(items: Sequence[T], now_ns: int, window_s: float) -> list[T]:
    """The items timed within ``window_s`` before ``now_ns`` (in any order)."""
    since = now_ns - window_s * NS
    return [item for item in items if since <= item.time_ns <= now_ns]


def _oldest_s(items: Sequence[_Timed], now_ns: int) -> float:
    return (now_ns - min(item.time_ns for item in items)) / NS


def is_refetch(miss: Miss, ttl_s: float, rules: TTLRules) -> bool:
    """A miss on a key that expired at most max(``refetch_after_expiry_s``,
    ``refetch_ttl_fraction`` × TTL) ago."""
    if miss.reason != "expired" or miss.expired_ago_s is None:
        return False
    limit = max(rules.refetch_after_expiry_s, rules.refetch_ttl_fraction * ttl_s)
    return 0 <= miss.expired_ago_s <= limit


def ttl_too_short(
    misses: Sequence[Miss],
    ttl_s: float | None,
    mean_load_ms: float,
    now_ns: int,
    rules: TTLRules,
) -> TTLAdvice | None:
    """Advice to raise the TTL when many misses are re-fetches right after expiry.

    Within ``window_s``: at least ``min_events`` misses, and a share ≥ ``short_share`` of
    them re-fetches (:func:`is_refetch`). Each re-fetch came ``ttl + expired_ago`` after
    its key was put; the suggested TTL is ``margin × p90`` of that interval, within
    ``bounds``, so most of those reads would have hit. The saving is those re-fetches per
    minute × the prefix's mean load time. None without a known TTL or when the suggestion
    would not be longer than the current TTL.
    """
    if ttl_s is None or ttl_s <= 0:
        return None
    recent = _recent(misses, now_ns, rules.window_s)
    if len(recent) < rules.min_events:
        return None
    refetches = [m for m in recent if is_refetch(m, ttl_s, rules)]
    share = len(refetches) / len(recent)
    if share < rules.short_share or not refetches:
        return None
    intervals = [ttl_s + (m.expired_ago_s or 0.0) for m in refetches]
    suggested = clamp(rules.margin * quantile(intervals, 0.9), rules.bounds)
    if suggested <= ttl_s:
        return None
    span_s = _oldest_s(recent, now_ns)
    rate = per_minute(len(refetches), span_s)
    return TTLAdvice(
        kind="ttl_too_short",
        current_ttl_s=ttl_s,
        suggested_ttl_s=round(suggested, 3),
        share=share,
        events=len(refetches),
        total=len(recent),
        estimated_saving_ms_per_min=rate * max(mean_load_ms, 0.0),
        estimated_saving_bytes=0.0,
        trace_ids=_trace_ids(m.trace_id for m in refetches),
    )


def ttl_too_long(
    removals: Sequence[Removal],
    ttl_s: float | None,
    mean_item_bytes: float,
    now_ns: int,
    rules: TTLRules,
) -> TTLAdvice | None:
    """Advice to lower the TTL when invalidated entries were mostly never read.

    Within ``window_s``: at least ``min_events`` single-key removals by invalidation, and a
    share ≥ ``long_share`` of them with ``entry_hits == 0``. The suggested TTL is the median
    age of those unread entries when removed, within ``bounds``: the entries that are read
    are read sooner, and an invalidation usually means the value went stale. The saving is
    memory: unread entries per minute × the prefix's mean item size. None when the
    suggestion would not be shorter than the current TTL.
    """
    recent = _recent(removals, now_ns, rules.window_s)
    if len(recent) < rules.min_events:
        return None
    unread = [r for r in recent if r.entry_hits == 0]
    share = len(unread) / len(recent)
    if share < rules.long_share or not unread:
        return None
    suggested = clamp(quantile([r.entry_age_s for r in unread], 0.5), rules.bounds)
    if ttl_s is not None and suggested >= ttl_s:
        return None
    span_s = _oldest_s(recent, now_ns)
    return TTLAdvice(
        kind="ttl_too_long",
        current_ttl_s=ttl_s,
        suggested_ttl_s=round(suggested, 3),
        share=share,
        events=len(unread),
        total=len(recent),
        estimated_saving_ms_per_min=0.0,
        estimated_saving_bytes=per_minute(len(unread), span_s) * max(mean_item_bytes, 0.0),
        trace_ids=_trace_ids(r.trace_id for r in unread),
    )


@dataclass(frozen=True, slots=True)
class Call:
    """One DB read: when it ended, its identity (the statement text), duration, trace."""

    time_ns: int
    identity: str
    duration_ms: float
    trace_id: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """A query worth caching: how often it repeats and what caching it would save."""

    calls: int
    distinct: int
    max_repeats: int
    expected_hit_ratio: float
    mean_ms: float
    db_ms_per_min: float
    estimated_saving_ms_per_min: float
    suggested_ttl_s: float
    trace_ids: tuple[str, ...]


def cacheable(
    calls: Sequence[Call],
    now_ns: int,
    horizon_s: float,
    min_repeats: int,
    min_ms_per_min: float,
    bounds: tuple[float, float],
) -> Candidate | None:
    """Whether one fingerprint's recent calls make it worth caching.

    Within ``horizon_s`` of ``now_ns``: some identical call (same statement text) repeats at
    least ``min_repeats`` times, and the fingerprint's DB time is at least
    ``min_ms_per_min`` per minute. A cache with a TTL of the horizon would miss once per
    distinct call and hit the rest: expected hit ratio = 1 − distinct / calls. Saving =
    calls per minute × mean duration × expected hit ratio. Suggested TTL = the time over
    which the most repeated call was seen, within ``bounds``.
    """
    recent = _recent(calls, now_ns, horizon_s)
    if not recent:
        return None
    groups: dict[str, list[Call]] = {}
    for call in recent:
        groups.setdefault(call.identity, []).append(call)
    largest = max(groups.values(), key=lambda group: len(group))
    top = sorted(largest, key=lambda c: c.time_ns)
    if len(top) < min_repeats:
        return None
    span_s = max(horizon_s, _oldest_s(recent, now_ns))
    total_ms = sum(c.duration_ms for c in recent)
    db_ms_per_min = per_minute(total_ms, span_s)
    if db_ms_per_min < min_ms_per_min:
        return None
    hit_ratio = 1.0 - len(groups) / len(recent)
    mean_ms = total_ms / len(recent)
    seen_s = (top[-1].time_ns - top[0].time_ns) / NS
    return Candidate(
        calls=len(recent),
        distinct=len(groups),
        max_repeats=len(top),
        expected_hit_ratio=hit_ratio,
        mean_ms=mean_ms,
        db_ms_per_min=db_ms_per_min,
        estimated_saving_ms_per_min=per_minute(len(recent), span_s) * mean_ms * hit_ratio,
        suggested_ttl_s=round(clamp(seen_s, bounds), 3),
        trace_ids=_trace_ids(c.trace_id for c in top),
    )


def _trace_ids(ids: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for trace_id in ids:
        if trace_id and trace_id not in out:
            out.append(trace_id)
            if len(out) == MAX_TRACE_IDS:
                break
    return tuple(out)
