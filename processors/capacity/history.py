"""Usage history in the store: raw samples, 5-minute and 1-hour buckets.

Every sample updates its 5-minute and 1-hour bucket directly (count, sum, min, max, last)
and is kept raw when at least ``raw_min_interval`` after the last raw sample of its
resource. Updates wait in memory as deltas until :meth:`UsageHistory.flush` merges them
into the store, so a bucket filled across a restart adds up. Reads merge the store's rows
with what is pending. Each level expires after its retention (raw 2 d, 5 min 14 d,
1 h the history window by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from otel_perf.store import Store, StoreWriteError, UsageRow

NS = 1_000_000_000
RAW, FINE, COARSE = 0, 300, 3600
LEVELS = (RAW, FINE, COARSE)


@dataclass(slots=True)
class Bucket:
    """Aggregate of the samples in one bucket."""

    count: int = 0
    sum: float = 0.0
    min: float = float("inf")
    max: float = float("-inf")
    last: float = 0.0
    last_ns: int = -1

    def add(self, value: float, t_ns: int) -> None:
        self.count += 1
        self.sum += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        if t_ns >= self.last_ns:
            self.last, self.last_ns = value, t_ns

    def merge(self, other: Bucket) -> None:
        self.count += other.count
        self.sum += other.sum
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        if other.last_ns >= self.last_ns:
            self.last, self.last_ns = other.last, other.last_ns

    @property
    def mean(self) -> float:
        return self.sum / self.count if self.count else float("nan")


@dataclass(frozen=True)
class Series:
    """Buckets of one resource at one resolution, oldest first."""

    starts_ns: list[int]
    buckets: list[Bucket]
    resolution_s: int

    def means(self) -> list[float]:
        return [b.mean for b in self.buckets]

    def maxes(self) -> list[float]:
        return [b.max for b in self.buckets]


class UsageHistory:
    """Bounded, persistent usage history of one capacity component."""

    def __init__(
        self,
        store: Store,
        component: str,
        retention_s: dict[int, float],
        raw_min_interval_s: float,
        max_pending: int,
    ) -> None:
        self.store = store
        self.component = component
        self.retention_s = retention_s
        self.raw_min_ns = int(raw_min_interval_s * NS)
        self.max_pending = max_pending
        self.pending: dict[tuple[str, int, int], Bucket] = {}
        self.last_raw_ns: dict[str, int] = {}
        self.dropped = 0
        self.expired_at_ns = 0

    def add(self, resource: str, t_ns: int, value: float) -> bool:
        """Record one sample; False (and counted) when the pending rows are full."""
        keys = [(resource, level, t_ns - t_ns % (level * NS)) for level in (FINE, COARSE)]
        last_raw_ns = self.last_raw_ns.get(resource)
        if last_raw_ns is None or abs(t_ns - last_raw_ns) >= self.raw_min_ns:
            keys.append((resource, RAW, t_ns))
            self.last_raw_ns[resource] = t_ns
        new = sum(key not in self.pending for key in keys)
        if len(self.pending) + new > self.max_pending:
            self.dropped += 1
            return False
        for key in keys:
            self.pending.setdefault(key, Bucket()).add(value, t_ns)
        return True

    def flush(self, now_ns: int) -> int:
        """Merge pending rows into the store; expire old rows once per hour. Returns rows
        written (0 during a store fault: they stay pending, bounded by ``max_pending``)."""
        rows: list[UsageRow] = [
            (r, level, start, b.count, b.sum, b.min, b.max, b.last, b.last_ns)
            for (r, level, start), b in self.pending.items()
        ]
        if rows:
            try:
                self.store.add_usage(self.component, rows)
            except StoreWriteError:
                return 0  # the store counts the fault; the rows stay pending for the next flush
        self.pending = {}
        if now_ns - self.expired_at_ns >= COARSE * NS:
            self.expired_at_ns = now_ns
            for level in LEVELS:
                before = now_ns - int(self.retention_s[level] * NS)
                self.store.expire_usage(self.component, level, before)
        return len(rows)

    def series(self, resource: str, resolution_s: int, since_ns: int = 0) -> Series:
        """Stored and pending buckets of ``resource`` at ``resolution_s`` from ``since_ns``."""
        merged: dict[int, Bucket] = {}
        for start, count, total, low, high, last, last_ns in self.store.usage(
            self.component, resource, resolution_s, since_ns
        ):
            merged[start] = Bucket(count, total, low, high, last, last_ns)
        for (r, level, start), pending in self.pending.items():
            if r == resource and level == resolution_s and start >= since_ns:
                merged.setdefault(start, Bucket()).merge(pending)
        starts = sorted(merged)
        return Series(starts, [merged[s] for s in starts], resolution_s)

    def view(self) -> dict[str, Any]:
        return {
            "pending_rows": len(self.pending),
            "dropped_samples": self.dropped,
            "retention_s": {
                ("raw" if k == RAW else f"{k}s"): v for k, v in self.retention_s.items()
            },
        }
