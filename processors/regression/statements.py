"""p95 per series interval of each statement fingerprint, for its change points.

Span metrics key on span names, which mix statements (``SELECT /path/shop.db``); the
regression processor therefore counts statement spans itself, by (service, fingerprint key),
and closes them with the span-metrics intervals: a span counts in the interval its end falls
in. Spans that end before the interval being closed arrived too late and are counted, not
used. Memory is bounded: ``max_series`` keys and ``per_series`` pending durations per key.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class StatementIntervals:
    """Durations (ms) per ``(service, key)`` waiting for their interval to close."""

    def __init__(self, max_series: int, per_series: int) -> None:
        self.max_series, self.per_series = max_series, per_series
        self.pending: dict[tuple[str, str], list[tuple[int, float]]] = {}
        self.untracked = 0  # spans of keys beyond max_series, or beyond per_series pending
        self.late = 0  # spans that ended before the interval being closed

    def add(self, service: str, key: str, end_ns: int, value_ms: float) -> None:
        """Hold one statement span's duration until its interval closes."""
        values = self.pending.get((service, key))
        if values is None:
            if len(self.pending) >= self.max_series:
                self.untracked += 1
                return
            values = self.pending[(service, key)] = []
        if len(values) >= self.per_series:
            self.untracked += 1
            return
        values.append((end_ns, value_ms))

    def close(self, start_ns: int, end_ns: int) -> Iterator[tuple[str, str, float]]:
        """``(service, key, p95_ms)`` of every key with spans ending in ``[start_ns, end_ns)``."""
        for (service, key), values in list(self.pending.items()):
            inside = [v for t, v in values if start_ns <= t < end_ns]
            self.late += sum(t < start_ns for t, _ in values)
            later = [(t, v) for t, v in values if t >= end_ns]
            if later:
                self.pending[(service, key)] = later
            else:
                del self.pending[(service, key)]
            if inside:
                yield service, key, float(np.percentile(inside, 95))
