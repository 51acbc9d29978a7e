"""p95 per series interval of each statement fingerprint, for its change points.

Span metrics key on span names, which mix statements (``SELECT /path/shop.db``); the
regression processor therefore counts statement spans itself, by (service, fingerprint key),
and closes them with the span-metrics intervals: a span counts in the interval its end falls
in. Spans that end before the interval being closed arrived too late and are counted, not
used. Each closed interval also gives the statement's :class:`usage.Usage` (executions, the
distinct traces they came from, their summed time): what tells a slower query from a change
of how it is called. Memory is bounded: ``max_series`` keys and ``per_series`` pending
durations per key.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from otel_perf.processors.regression.usage import Usage

Pending = tuple[int, float, bytes]  # (end_ns, duration_ms, trace_id)


class StatementIntervals:
    """Durations (ms) per ``(service, key)`` waiting for their interval to close."""

    def __init__(self, max_series: int, per_series: int) -> None:
        self.max_series, self.per_series = max_series, per_series
        self.pending: dict[tuple[str, str], list[Pending]] = {}
        self.untracked = 0  # spans of keys beyond max_series, or beyond per_series pending
        self.late = 0  # spans that ended before the interval being closed

    def add(
        self, service: str, key: str, end_ns: int, value_ms: float, trace_id: bytes = b""
    ) -> None:
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
        values.append((end_ns, value_ms, trace_id))

    def close(self, start_ns: int, end_ns: int) -> Iterator[tuple[str, str, float, Usage]]:
        """``(service, key, p95_ms, usage)`` of every key with spans ending in
        ``[start_ns, end_ns)``."""
        length_s = (end_ns - start_ns) / 1e9
        for (service, key), values in list(self.pending.items()):
            inside = [(v, trace) for t, v, trace in values if start_ns <= t < end_ns]
            self.late += sum(t < start_ns for t, _, _ in values)
            later = [p for p in values if p[0] >= end_ns]
            if later:
                self.pending[(service, key)] = later
            else:
                del self.pending[(service, key)]
            if inside:
                ms = [v for v, _ in inside]
                traces = len({trace for _, trace in inside})
                usage = Usage(len(ms), traces, float(sum(ms)), length_s)
                yield service, key, float(np.percentile(ms, 95)), usage
