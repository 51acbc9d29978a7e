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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from otel_perf.columns import SpanColumns
from otel_perf.model import SpanRecord
from otel_perf.processors.bottlenecks.recent import RecentIds


def trace_key(trace_id: bytes) -> int:
    """A trace id as an int; ids of different lengths (hand-made spans) stay distinct."""
    return int.from_bytes(b"\x01" + trace_id, "big")


class Trace(list[SpanRecord]):
    """A trace's spans, with each span's operation when it was named at arrival.

    ``operations[i]`` is ``spans[i]``'s :func:`otel_perf.semconv.kept_operation`, named
    once per distinct combination of the batch it came in (``SpanColumns.operations``);
    ``named`` is False when a span arrived without one (then none are trusted).
    """

    __slots__ = ("named", "operations")

    def __init__(self, spans: Iterable[SpanRecord] = ()) -> None:
        super().__init__(spans)
        self.operations: list[str] = []
        self.named = True


@dataclass(slots=True)
class TraceBuffer:
    """A held trace; ``span_ids`` is made when a second batch brings spans to it."""

    first_seen_ns: int
    spans: Trace = field(default_factory=Trace)
    span_ids: set[bytes] | None = None
    last_seen_ns: int = 0

    def ids(self) -> set[bytes]:
        if self.span_ids is None:
            self.span_ids = {s.span_id for s in self.spans}
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
        self,
        spans: list[SpanRecord],
        operations: Sequence[str] | None = None,
        columns: SpanColumns | None = None,
    ) -> list[list[SpanRecord]]:
        """Take ``spans`` (with their operations, when named: one per span, and their
        columns when they are a whole batch's).

        The spans are grouped by trace id once (numpy), and a trace new to the assembler
        is taken whole; spans of a trace already held go through :meth:`_add_one`, and
        so does every span of a batch where grouping could change the outcome (the
        bound would push traces out, an id of an unusual length, a span id twice).
        """
        grouped = self._groups(spans, columns)
        if grouped is None or len(self._traces) + len(grouped[0]) > self.max_traces:
            return self._add_each(spans, operations, range(len(spans)))
        firsts, rows, ends = grouped
        traces, now, done = self._traces, self._now_ns, self._done
        for g, key in enumerate(firsts):
            at = rows[g]
            if key in traces:
                self._add_each(spans, operations, at)
            elif key in done:
                self.late_spans += len(at)
            elif len(at) > self.max_spans:
                self._add_each(spans, operations, at)
            else:
                held = Trace(map(spans.__getitem__, at))
                if operations is not None:
                    held.operations = list(map(operations.__getitem__, at))
                else:
                    held.named = False
                first, last = spans[at[0]].end_ns, ends[g]
                traces[key] = TraceBuffer(
                    now if now > first else first, held, None, now if now > last else last
                )
        return []

    def _groups(
        self, spans: list[SpanRecord], columns: SpanColumns | None
    ) -> tuple[list[int], list[list[int]], list[int]] | None:
        """The batch's traces in order of first appearance: their keys, rows and
        latest span end; None when a span id may repeat, or a trace id is not 16 bytes
        long (hand-made records: their id columns are cut or padded)."""
        n = len(spans)
        if n == 0:
            return [], [], []
        if columns is None or len(b"".join([s.trace_id for s in spans])) != 16 * n:
            return None
        span_ids = np.sort(columns.span_id.view(np.uint64).reshape(n))
        if (span_ids[1:] == span_ids[:-1]).any():  # equal ids stay equal in the column
            return None
        ids = columns.trace_id.view(np.uint64)
        high, low = ids[:, 0], ids[:, 1]
        order = np.lexsort((low, high))  # stable: each trace's rows stay in order
        h, lo = high[order], low[order]
        new = np.empty(n, bool)
        new[0] = True
        np.not_equal(h[1:], h[:-1], out=new[1:])
        new[1:] |= lo[1:] != lo[:-1]
        starts = np.flatnonzero(new)
        ends = np.maximum.reduceat(columns.end_ns[order], starts)
        by_first = np.argsort(order[starts], kind="stable")
        stops = np.append(starts[1:], n)
        sorted_rows = order.tolist()
        rows = [
            sorted_rows[a:b]
            for a, b in zip(starts[by_first].tolist(), stops[by_first].tolist(), strict=True)
        ]
        firsts = [trace_key(spans[at[0]].trace_id) for at in rows]
        return firsts, rows, ends[by_first].tolist()

    def _add_each(
        self, spans: list[SpanRecord], operations: Sequence[str] | None, rows: Sequence[int]
    ) -> list[list[SpanRecord]]:
        """Take the spans at ``rows`` one by one, in order."""
        evicted: list[list[SpanRecord]] = []
        traces, now = self._traces, self._now_ns
        named = operations is not None
        names: Sequence[str] = operations if operations is not None else ()
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
                    evicted.append(old.spans)
                    self.evicted_early += 1
                buffer = traces[key] = TraceBuffer(max(now, span.end_ns), span_ids=set())
            span_ids = buffer.ids()
            if span.span_id in span_ids:
                self.duplicate_spans += 1
                continue
            if len(buffer.spans) >= self.max_spans:
                self.dropped_spans += 1
                continue
            held = buffer.spans
            held.append(span)
            if named and held.named:
                held.operations.append(names[i])
            else:
                held.named = False
            span_ids.add(span.span_id)
            seen = now if now > span.end_ns else span.end_ns
            if seen > buffer.last_seen_ns:
                buffer.last_seen_ns = seen
        return evicted

    def complete(self, now_ns: int) -> list[list[SpanRecord]]:
        """Traces without a new span for ``quiet_ns`` of event time, or waiting too long."""
        self.observe(now_ns)
        quiet, wait = self.quiet_ns, self.max_wait_ns
        done = [
            tid
            for tid, b in self._traces.items()
            if b.last_seen_ns + quiet <= now_ns or b.first_seen_ns + wait <= now_ns
        ]
        pop = self._traces.pop
        out: list[list[SpanRecord]] = [pop(tid).spans for tid in done]
        self._done.extend(done)
        if len(self._traces) < len(done):  # a dict keeps its largest table: copy it down
            self._traces = OrderedDict(self._traces)
        return out

    def drain(self) -> list[list[SpanRecord]]:
        traces: list[list[SpanRecord]] = [b.spans for b in self._traces.values()]
        self._done.extend(self._traces)
        self._traces = OrderedDict()
        return traces

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
