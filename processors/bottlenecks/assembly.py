"""Trace assembly: spans grouped by trace id until no new span of the trace has arrived
for the quiet time.

SDKs export in batches (the BatchSpanProcessor waits up to 5 s), so the spans of one
request arrive over seconds, and a long request's root arrives long after its first
children ended. A trace is therefore complete once ``quiet_ns`` of event time passed
since a span of it last *arrived* — arrival is the event time of the latest tick seen
(``observe``), or the span's own end when that is later (replay) — and never before its
latest span end plus ``quiet_ns``. A trace that keeps receiving spans is analysed anyway
``max_wait_ns`` after its first span arrived.

The map is bounded: past ``max_traces`` the oldest trace is handed out early, analysed
as it is, and counted; a trace past ``max_spans`` keeps its first spans and counts the
rest; a span id already held (an export retried after a timeout sends its spans again)
is counted in ``duplicate_spans`` and neither kept nor taken as news. Trace ids analysed
recently are remembered (as many as ``max_traces``): a span
that arrives for one of them is late, counted in ``late_spans`` and ignored, so a trace
is never analysed a second time as a fragment with a fake root.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from otel_perf.model import SpanRecord
from otel_perf.processors.bottlenecks.held import (
    ODD_ID,
    ODD_TIME,
    ODD_TRACE,
    Chunk,
    Completed,
    Named,
    Parts,
    chunk_of,
    named_per_span,
    read,
)
from otel_perf.processors.bottlenecks.recent import RecentIds


def trace_key(trace_id: bytes) -> int:
    """A trace id as an int; ids of different lengths (hand-made spans) stay distinct."""
    return int.from_bytes(b"\x01" + trace_id, "big")


@dataclass(slots=True)
class TraceBuffer:
    """A held trace; ``span_ids`` is made when a second batch brings spans to it."""

    first_seen_ns: int
    parts: Parts = field(default_factory=Parts)
    span_ids: set[bytes] | None = None
    last_seen_ns: int = 0
    count: int = 0

    def ids(self) -> set[bytes]:
        if self.span_ids is None:
            self.span_ids = {s.span_id for s in self.parts.spans()}
        return self.span_ids


class TraceAssembler:
    """Holds incomplete traces; ``add`` returns traces pushed out early by the bound."""

    def __init__(
        self, quiet_ns: int, max_traces: int, max_spans: int, max_wait_ns: int | None = None
    ) -> None:
        self.quiet_ns = quiet_ns
        self.max_traces = max_traces
        self.max_spans = max_spans
        self.max_wait_ns = max_wait_ns if max_wait_ns is not None else 30 * quiet_ns
        self._traces: OrderedDict[int, TraceBuffer] = OrderedDict()  # by trace_key
        self._done = RecentIds(max_traces)  # recently analysed trace ids
        self._now_ns = 0
        self.evicted_early = 0
        self.dropped_spans = 0
        self.late_spans = 0
        self.duplicate_spans = 0

    @property
    def now_ns(self) -> int:
        """The latest event time seen."""
        return self._now_ns

    def __len__(self) -> int:
        return len(self._traces)

    def observe(self, now_ns: int) -> None:
        """The event time spans arriving from now on are stamped with."""
        self._now_ns = max(self._now_ns, now_ns)

    def add(
        self, spans: list[SpanRecord], operations: Named | Sequence[str] | None = None
    ) -> Completed:
        """Take ``spans`` with their operations (named per span when not given).

        The spans are read into columns once (``held.read``) and grouped by trace id, a
        trace new to the assembler taken whole as one range of the batch's chunk; spans
        of a trace already held go through :meth:`_add_each`, and so does every span of
        a batch where grouping could change the outcome (the bound would push traces
        out, an id of an unusual length, a span id twice).
        """
        if not spans:
            return Completed.of([])
        named = operations if isinstance(operations, Named) else named_per_span(spans, operations)
        columns, tid = read(spans, named)
        grouped = self._groups(columns, tid)
        if grouped is None or len(self._traces) + len(grouped[1]) > self.max_traces:
            chunk = chunk_of(spans, named.names, columns, None)
            return Completed.of(self._add_each(chunk, range(len(spans))))
        order, starts, stops, ends = grouped
        chunk = chunk_of(spans, named.names, columns, order)
        held = chunk.spans
        traces, now, done = self._traces, self._now_ns, self._done
        for a, b, last in zip(starts, stops, ends, strict=True):
            key = trace_key(held[a].trace_id)
            if key in traces or b - a > self.max_spans:
                self._add_each(chunk, range(a, b))  # within the bound: evicts nothing
            elif key in done:
                self.late_spans += b - a
            else:
                first = held[a].end_ns
                parts = Parts([(chunk, a, b)])
                traces[key] = TraceBuffer(
                    now if now > first else first, parts, None, now if now > last else last, b - a
                )
        return Completed.of([])

    @staticmethod
    def _groups(
        columns: list[NDArray[Any]], tid: NDArray[np.uint64]
    ) -> tuple[NDArray[np.int64], list[int], list[int], list[int]] | None:
        """The rows in trace order (stable) and each trace's range of it with its latest
        span end, traces in order of first appearance; None when a span id may repeat
        or a trace or span id is not of the usual length."""
        flags, sid = columns[6], columns[4]
        n = len(flags)
        if (flags & np.uint8(ODD_TRACE | ODD_ID | ODD_TIME)).any():
            return None
        ids = np.sort(sid)
        if (ids[1:] == ids[:-1]).any():
            return None
        high, low = tid[:, 0], tid[:, 1]
        order = np.lexsort((low, high))  # stable: each trace's rows stay in order
        h, lo = high[order], low[order]
        new = np.empty(n, bool)
        new[0] = True
        np.not_equal(h[1:], h[:-1], out=new[1:])
        new[1:] |= lo[1:] != lo[:-1]
        starts = np.flatnonzero(new)
        ends = np.maximum.reduceat(columns[1][order], starts)
        by_first = np.argsort(order[starts], kind="stable")
        stops = np.append(starts[1:], n)
        return (
            order,
            starts[by_first].tolist(),
            stops[by_first].tolist(),
            ends[by_first].tolist(),
        )

    def _add_each(self, chunk: Chunk, rows: Sequence[int]) -> list[Parts]:
        """Take the spans at ``rows`` of ``chunk`` one by one, in order."""
        evicted: list[Parts] = []
        traces, now, spans = self._traces, self._now_ns, chunk.spans
        for i in rows:
            span = spans[i]
            key = trace_key(span.trace_id)
            buffer = traces.get(key)
            if buffer is None:
                if key in self._done:
                    self.late_spans += 1
                    continue
                if len(traces) >= self.max_traces:
                    old_id, old = traces.popitem(last=False)
                    self._done.add(old_id)
                    evicted.append(old.parts)
                    self.evicted_early += 1
                buffer = traces[key] = TraceBuffer(max(now, span.end_ns), span_ids=set())
            span_ids = buffer.ids()
            if span.span_id in span_ids:
                self.duplicate_spans += 1
                continue
            if buffer.count >= self.max_spans:
                self.dropped_spans += 1
                continue
            buffer.parts.extend_row(chunk, i)
            buffer.count += 1
            span_ids.add(span.span_id)
            seen = now if now > span.end_ns else span.end_ns
            if seen > buffer.last_seen_ns:
                buffer.last_seen_ns = seen
        return evicted

    def complete(self, now_ns: int) -> Completed:
        """Traces without a new span for ``quiet_ns`` of event time, or waiting too long."""
        self.observe(now_ns)
        quiet, wait = self.quiet_ns, self.max_wait_ns
        done = [
            tid
            for tid, b in self._traces.items()
            if b.last_seen_ns + quiet <= now_ns or b.first_seen_ns + wait <= now_ns
        ]
        pop = self._traces.pop
        out = [pop(tid).parts for tid in done]
        self._done.extend(done)
        if len(self._traces) < len(done):  # a dict keeps its largest table: copy it down
            self._traces = OrderedDict(self._traces)
        return Completed.of(out)

    def drain(self) -> Completed:
        held = [b.parts for b in self._traces.values()]
        self._done.extend(self._traces)
        self._traces = OrderedDict()
        return Completed.of(held)

    COUNTERS = ("evicted_early", "dropped_spans", "late_spans", "duplicate_spans")

    def done_ids(self) -> list[str]:
        """The trace ids analysed recently, oldest first, in hex (for the store)."""
        return [format(key, "x")[1:] for key in self._done]

    def restore(self, done: list[str], counters: dict[str, int]) -> None:
        """Take back :meth:`done_ids` and the counters (at most ``max_traces`` ids).

        Raises:
            ValueError: on an id that is not hex.
        """
        values = {name: int(counters.get(name, 0)) for name in self.COUNTERS}
        recent = RecentIds(self.max_traces)
        recent.extend(trace_key(bytes.fromhex(t)) for t in done[-self.max_traces :])
        self._done = recent
        for name, value in values.items():
            setattr(self, name, value)
