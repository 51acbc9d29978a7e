"""What the cache processor counts per service × cache × key prefix, and how it persists.

Counters are totals since the store was created (they survive restarts); the recent
evidence behind TTL advice (misses, removals, TTLs) lives in bounded deques
(``max_samples`` each) and is saved with them, so advice open before a restart is judged on
the same evidence after it. A document saved before the evidence was (no ``recent_*``
keys) restores with empty deques. The document is these records through
:mod:`otel_perf.codec` (version 1; the bare document a build before versions wrote is
version 1's state, so it migrates as it is).
"""

from __future__ import annotations

import json
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field
from typing import Annotated, Any

from otel_perf.codec import ROW, TRANSIENT
from otel_perf.component.state import Document, unchanged
from otel_perf.processors.cache.analysis import Miss, Removal, quantile

MISS_REASONS = ("absent", "expired", "evicted", "invalidated")
OPERATIONS = ("delete", "tag", "pattern", "expire")
OTHER = "other"
OVERFLOW_PREFIX = "(other)"


def known(value: object, allowed: tuple[str, ...]) -> str:
    """``value`` when it is one of ``allowed``, else ``"other"``: wire values are not keys."""
    return value if isinstance(value, str) and value in allowed else OTHER


@dataclass
class PrefixStats:
    """Counters and recent evidence of one key prefix of one cache."""

    hits: int = 0
    misses: int = 0
    l2_hits: int = 0
    saved_ms: float = 0.0
    loads: int = 0
    load_ms: float = 0.0
    puts: int = 0
    put_bytes: int = 0
    compressed_puts: int = 0
    misses_by_reason: Counter[str] = field(default_factory=Counter)
    removals: Counter[str] = field(default_factory=Counter)
    removed_unread: int = 0
    recent_misses: deque[Annotated[Miss, ROW]] = field(default_factory=deque)
    recent_removals: deque[Annotated[Removal, ROW]] = field(default_factory=deque)
    recent_ttls: deque[float] = field(default_factory=deque)

    @classmethod
    def new(cls, max_samples: int) -> PrefixStats:
        return cls(
            recent_misses=deque(maxlen=max_samples),
            recent_removals=deque(maxlen=max_samples),
            recent_ttls=deque(maxlen=max_samples),
        )

    def bounded(self, max_samples: int) -> None:
        """Hold at most the newest ``max_samples`` of each recent evidence (as restored)."""
        self.recent_misses = deque(self.recent_misses, maxlen=max_samples)
        self.recent_removals = deque(self.recent_removals, maxlen=max_samples)
        self.recent_ttls = deque(self.recent_ttls, maxlen=max_samples)

    @property
    def hit_ratio(self) -> float | None:
        total = self.hits + self.misses
        return None if total == 0 else self.hits / total

    @property
    def mean_load_ms(self) -> float:
        return self.load_ms / self.loads if self.loads else 0.0

    @property
    def mean_item_bytes(self) -> float:
        return self.put_bytes / self.puts if self.puts else 0.0

    @property
    def ttl_s(self) -> float | None:
        """The median TTL of recent puts (None before any put carried ``cache.ttl``)."""
        return quantile(list(self.recent_ttls), 0.5) if self.recent_ttls else None

    def view(self, prefix: str) -> dict[str, Any]:
        return {
            "prefix": prefix,
            "hits": self.hits,
            "misses": self.misses,
            "hit_ratio": self.hit_ratio,
            "l2_hits": self.l2_hits,
            "saved_ms": round(self.saved_ms, 3),
            "loads": self.loads,
            "load_ms": round(self.load_ms, 3),
            "mean_load_ms": round(self.mean_load_ms, 3),
            "puts": self.puts,
            "mean_item_bytes": round(self.mean_item_bytes, 1),
            "compressed_puts": self.compressed_puts,
            "ttl_s": self.ttl_s,
            "misses_by_reason": dict(sorted(self.misses_by_reason.items())),
            "removals": dict(sorted(self.removals.items())),
            "removed_unread": self.removed_unread,
        }


@dataclass
class CacheStats:
    """One cache of one service: its prefixes, and what its metrics said."""

    service: str
    name: str
    max_prefixes: int = field(default=0, metadata={TRANSIENT: True})  # the config's
    max_samples: int = field(default=0, metadata={TRANSIENT: True})
    prefixes: OrderedDict[str, PrefixStats] = field(default_factory=OrderedDict)
    overflowed: int = 0  # events that went to the (other) prefix because the map was full
    metric_hits: float = 0.0
    metric_misses: float = 0.0
    metric_invalidations: float = 0.0
    metric_evictions: dict[str, float] = field(default_factory=dict)
    keyless_removals: Counter[str] = field(default_factory=Counter)  # tag/pattern, no key
    metric_loads: float = 0.0
    metric_load_ms: float = 0.0
    metrics_seen: bool = False
    # the SDK's gauges: the next metrics export says them again
    entries: dict[str, float] = field(default_factory=dict, metadata={TRANSIENT: True})
    size_bytes: dict[str, float] = field(default_factory=dict, metadata={TRANSIENT: True})

    def prefix(self, prefix: str) -> PrefixStats:
        """The stats of ``prefix``; past ``max_prefixes`` the shared ``(other)`` bucket."""
        stats = self.prefixes.get(prefix)
        if stats is not None:
            return stats
        if len(self.prefixes) >= self.max_prefixes:
            self.overflowed += 1
            prefix = OVERFLOW_PREFIX
            stats = self.prefixes.get(prefix)
            if stats is not None:
                return stats
        stats = PrefixStats.new(self.max_samples)
        self.prefixes[prefix] = stats
        return stats

    def totals(self) -> tuple[float, float, str]:
        """(hits, misses, source): the SDK's counters when they arrived (unsampled), else
        the sum of the spans."""
        if self.metrics_seen and self.metric_hits + self.metric_misses > 0:
            return self.metric_hits, self.metric_misses, "metrics"
        hits = sum(p.hits for p in self.prefixes.values())
        misses = sum(p.misses for p in self.prefixes.values())
        return float(hits), float(misses), "spans"

    @property
    def hit_ratio(self) -> float | None:
        hits, misses, _ = self.totals()
        return None if hits + misses == 0 else hits / (hits + misses)

    def view(self) -> dict[str, Any]:
        hits, misses, source = self.totals()
        spans = self.prefixes.values()
        loads = sum(p.loads for p in spans) or self.metric_loads
        load_ms = sum(p.load_ms for p in spans) or self.metric_load_ms
        removals: Counter[str] = Counter(self.keyless_removals)
        reasons: Counter[str] = Counter()
        for p in spans:
            removals.update(p.removals)
            reasons.update(p.misses_by_reason)
        return {
            "service": self.service,
            "cache": self.name,
            "hits": hits,
            "misses": misses,
            "hit_ratio": self.hit_ratio,
            "source": source,
            "saved_ms": round(sum(p.saved_ms for p in spans), 3),
            "loads": loads,
            "load_ms": round(load_ms, 3),
            "misses_by_reason": dict(sorted(reasons.items())),
            "evictions": dict(sorted(self.metric_evictions.items())),
            "invalidations": self.metric_invalidations,
            "removals": dict(sorted(removals.items())),
            "entries": dict(sorted(self.entries.items())),
            "size_bytes": dict(sorted(self.size_bytes.items())),
            "prefixes_overflowed": self.overflowed,
            "prefixes": [
                p.view(name)
                for name, p in sorted(
                    self.prefixes.items(), key=lambda kv: -(kv[1].hits + kv[1].misses)
                )
            ],
        }

    def bounded(self, max_prefixes: int, max_samples: int) -> CacheStats:
        """This cache as restored under the config's limits: the first ``max_prefixes``."""
        self.max_prefixes, self.max_samples = max_prefixes, max_samples
        self.prefixes = OrderedDict(list(self.prefixes.items())[:max_prefixes])
        for prefix in self.prefixes.values():
            prefix.bounded(max_samples)
        return self


class Cumulative:
    """Deltas of cumulative metric streams, for totals (bounded, least recent dropped).

    Unlike :class:`otel_perf.component.metricmath.MetricStreams` (made for rates), the first
    point of a stream counts in full: a cumulative counter holds everything since its start time,
    and a total that skipped it would miss the app's first export interval. A value lower
    than the last one is a reset and counts in full too. The last values are persisted, so
    a restart of the sidecar does not count them twice.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._last: OrderedDict[str, tuple[int, tuple[float, ...]]] = OrderedDict()
        self.dropped = 0

    @staticmethod
    def key(name: str, service: str, attributes: dict[str, Any]) -> str:
        return json.dumps([name, service, sorted(attributes.items())], default=str)

    def delta(self, key: str, start_ns: int, values: tuple[float, ...]) -> tuple[float, ...]:
        previous = self._last.get(key)
        self._last[key] = (start_ns, values)
        self._last.move_to_end(key)
        if len(self._last) > self.limit:
            self._last.popitem(last=False)
            self.dropped += 1
        if previous is None or previous[0] != start_ns or len(previous[1]) != len(values):
            return values
        if any(v < p for v, p in zip(values, previous[1], strict=True)):
            return values  # a reset: everything since it is new
        return tuple(v - p for v, p in zip(values, previous[1], strict=True))

    def rows(self) -> list[LastValue]:
        """The last value of each stream, least recent first."""
        return [(key, start, values) for key, (start, values) in self._last.items()]

    def restore(self, rows: list[LastValue]) -> None:
        for key, start, values in rows[-self.limit :]:
            self._last[key] = (start, values)


LastValue = tuple[str, int, tuple[float, ...]]  # a stream's key, start time, last values


@dataclass
class CacheState:
    """The persisted document: each cache's counters and the cumulative streams' last values."""

    caches: list[CacheStats]
    cumulative: list[LastValue]


COUNTERS = Document(CacheState, version=1, migrations={0: unchanged})
