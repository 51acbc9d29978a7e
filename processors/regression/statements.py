"""p95 per series interval of each statement fingerprint, for its change points.

Span metrics key on span names, which mix statements (``SELECT /path/shop.db``); the
regression processor therefore counts statement spans itself, by (service, fingerprint key),
and closes them with the span-metrics intervals: a span counts in the interval its end falls
in. Spans that end before the interval being closed arrived too late and are counted, not
used. Each closed interval also gives the statement's :class:`usage.Usage` (executions, the
distinct traces they came from, their summed time): what tells a slower query from a change
of how it is called. Memory is bounded: ``max_series`` keys and ``per_series`` pending
durations per key, held as array chunks (32 bytes a span).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

from otel_perf.processors.regression.usage import Usage

TRACE_ID_BYTES = 16


#: one pending span, packed: 32 bytes in its key's one bytearray (no object per span, and
#: one object per key: ~60 B for a key with one span, not ~330 B of arrays and a holder)
PENDING = np.dtype([("end_ns", "<i8"), ("value_ms", "<f8"), ("trace", f"V{TRACE_ID_BYTES}")])


def packed(
    end_ns: NDArray[np.int64], values_ms: NDArray[np.float64], traces: NDArray[np.uint8]
) -> bytes:
    """Spans as :data:`PENDING` records."""
    out = np.empty(len(end_ns), PENDING)
    out["end_ns"], out["value_ms"] = end_ns, values_ms
    out["trace"] = np.ascontiguousarray(traces, np.uint8).view(f"V{TRACE_ID_BYTES}").ravel()
    return out.tobytes()


class StatementIntervals:
    """Durations (ms) per ``(service, key)`` waiting for their interval to close."""

    def __init__(self, max_series: int, per_series: int) -> None:
        self.max_series, self.per_series = max_series, per_series
        self.pending: dict[tuple[str, str], bytearray] = {}  # PENDING records
        self.untracked = 0  # spans of keys beyond max_series, or beyond per_series pending
        self.late = 0  # spans that ended before the interval being closed

    def add(
        self, service: str, key: str, end_ns: int, value_ms: float, trace_id: bytes = b""
    ) -> None:
        """Hold one statement span's duration until its interval closes."""
        trace = np.frombuffer(trace_id[:TRACE_ID_BYTES].ljust(TRACE_ID_BYTES, b"\0"), np.uint8)
        self.add_many(service, key, np.array([end_ns]), np.array([value_ms]), trace.reshape(1, -1))

    def add_many(
        self,
        service: str,
        key: str,
        end_ns: NDArray[np.int64],
        values_ms: NDArray[np.float64],
        traces: NDArray[np.uint8],
    ) -> None:
        """:meth:`add` of each span in turn: ends, durations and ``(n, 16)`` trace ids."""
        waiting = self.pending.get((service, key))
        if waiting is None:
            if len(self.pending) >= self.max_series:
                self.untracked += len(end_ns)
                return
            waiting = self.pending[(service, key)] = bytearray()
        room = max(self.per_series - len(waiting) // PENDING.itemsize, 0)
        self.untracked += max(len(end_ns) - room, 0)
        if room and len(end_ns):
            waiting += packed(end_ns[:room], values_ms[:room], traces[:room])

    def close(self, start_ns: int, end_ns: int) -> Iterator[tuple[str, str, float, Usage]]:
        """``(service, key, p95_ms, usage)`` of every key with spans ending in
        ``[start_ns, end_ns)``."""
        length_s = (end_ns - start_ns) / 1e9
        for (service, key), waiting in list(self.pending.items()):
            spans = np.frombuffer(bytes(waiting), PENDING)
            ends = spans["end_ns"]
            inside = (start_ns <= ends) & (ends < end_ns)
            self.late += int(np.count_nonzero(ends < start_ns))
            later = ends >= end_ns
            if later.any():
                self.pending[(service, key)] = bytearray(spans[later].tobytes())
            else:
                del self.pending[(service, key)]
            if inside.any():
                ms = spans["value_ms"][inside]
                distinct = np.unique(spans["trace"][inside])
                summed = float(np.add.accumulate(ms)[-1])  # in arrival order, as added
                usage = Usage(len(ms), len(distinct), summed, length_s)
                yield service, key, float(np.percentile(ms, 95)), usage
