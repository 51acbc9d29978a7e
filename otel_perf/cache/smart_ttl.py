"""Smart TTL for ``cached_query``: cache a result for about half as long as it stays the same.

For each query key (fingerprint + parameters) the book remembers a hash of the last result
and when it last changed. A change is a result whose hash differs from the previous one;
the intervals between consecutive changes (the last :data:`MAX_INTERVALS`) give

    ttl = clamp(0.5 × median(intervals), lowest, highest)

and ``default_ttl`` until two changes were seen (one interval). A result unchanged for
longer than that median counts as one more (open) interval, so the TTL grows again when
the data settles. The math is :func:`smart_ttl`; the book is the stateful shell.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_INTERVALS = 16
FACTOR = 0.5


def smart_ttl(
    intervals_s: Sequence[float],
    open_interval_s: float,
    bounds: tuple[float, float],
    default_ttl: float,
) -> tuple[float, str]:
    """The TTL for a query and a sentence saying how it was reached.

    Args:
        intervals_s: seconds between consecutive result changes, oldest first.
        open_interval_s: seconds since the last change.
        bounds: (lowest, highest) TTL in seconds.
        default_ttl: the TTL while fewer than one interval is known.

    >>> smart_ttl([20.0, 40.0, 30.0], 5.0, (5.0, 3600.0), 300.0)[0]
    15.0
    >>> smart_ttl([], 0.0, (5.0, 3600.0), 300.0)[0]
    300.0
    """
    if not intervals_s:
        return default_ttl, f"default_ttl {default_ttl:g} s: fewer than two result changes seen"
    median = statistics.median(intervals_s)
    basis = f"median of {len(intervals_s)} intervals between result changes"
    if open_interval_s > median:
        median = statistics.median([*intervals_s, open_interval_s])
        basis += f" and {open_interval_s:.3g} s unchanged since the last"
    low, high = bounds
    raw = FACTOR * median
    ttl = min(max(raw, low), high)
    text = f"{FACTOR:g} × {median:.3g} s ({basis}) = {raw:.3g} s"
    if ttl != raw:
        text += f", clamped to {ttl:g} s by smart_ttl_bounds ({low:g}, {high:g})"
    return ttl, text


@dataclass
class QueryHistory:
    """What is remembered about one query key."""

    result_hash: str
    changed_at: float | None = None  # None until the first change
    intervals_s: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_INTERVALS))
    changes: int = 0
    observations: int = 1


class SmartTTLBook:
    """Per query key result history (at most ``max_keys`` keys, least recently seen forgotten
    first and counted in ``forgotten``), explained per fingerprint."""

    def __init__(
        self,
        bounds: tuple[float, float],
        default_ttl: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.bounds = bounds
        self.default_ttl = default_ttl
        self.clock = clock
        self.max_keys = max_keys
        self.forgotten = 0
        self._history: OrderedDict[str, QueryHistory] = OrderedDict()
        self._explained: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def observe(self, fingerprint: str, key: str, result_hash: str) -> float:
        """Record a freshly loaded result of ``key``; returns the TTL to store it with."""
        with self._lock:
            now = self.clock()
            history = self._history.pop(key, None)
            if history is None:
                history = QueryHistory(result_hash)
            else:
                history.observations += 1
                if history.result_hash != result_hash:
                    if history.changed_at is not None:
                        history.intervals_s.append(now - history.changed_at)
                    history.changed_at, history.result_hash = now, result_hash
                    history.changes += 1
            self._history[key] = history
            self._bound(self._history)
            opened = 0.0 if history.changed_at is None else now - history.changed_at
            ttl, basis = smart_ttl(list(history.intervals_s), opened, self.bounds, self.default_ttl)
            self._explain(fingerprint, key, history, ttl, basis)
            return ttl

    def explain(self) -> dict[str, dict[str, Any]]:
        """Per fingerprint: the last TTL chosen for one of its keys and why."""
        with self._lock:
            return {fp: dict(entry) for fp, entry in self._explained.items()}

    def _explain(
        self, fingerprint: str, key: str, history: QueryHistory, ttl: float, basis: str
    ) -> None:
        entry = self._explained.pop(fingerprint, None) or {"keys_seen": 0}
        intervals = list(history.intervals_s)
        entry.update(
            ttl_s=ttl,
            explanation=basis,
            key=key,
            changes=history.changes,
            observations=history.observations,
            median_change_interval_s=statistics.median(intervals) if intervals else None,
            keys_seen=entry["keys_seen"] + (history.observations == 1),
        )
        self._explained[fingerprint] = entry
        self._bound(self._explained)

    def _bound(self, table: OrderedDict[str, Any]) -> None:
        while len(table) > self.max_keys:
            table.popitem(last=False)
            self.forgotten += 1
