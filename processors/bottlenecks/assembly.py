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

from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter

import numpy as np
from numpy.typing import NDArray

from otel_perf.model import SpanRecord
from otel_perf.processors.bottlenecks.completed import Completed
from otel_perf.processors.bottlenecks.held import (
    FOLD,
    Chunk,
    Named,
    chunk_from_records,
    named_per_span,
    take,
)
from otel_perf.processors.bottlenecks.recent import RecentIds

I64 = NDArray[np.int64]


def trace_key(trace_id: bytes) -> int:
    """A trace id as an int; ids of different lengths (hand-made spans) stay distinct."""
    return int.from_bytes(b"\x01" + trace_id, "big")


@dataclass(slots=True)
class TraceBuffer:
    """A trace held span by span (its spans came in more than one batch, or one by one);
    ``span_ids`` is made when a span is offered to it."""

    first_seen_ns: int
    seq: int
    spans: list[SpanRecord] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)
    fold: list[bool] = field(default_factory=list)
    span_ids: set[bytes] | None = None
    last_seen_ns: int = 0

    def ids(self) -> set[bytes]:
        if self.span_ids is None:
            self.span_ids = {s.span_id for s in self.spans}
        return self.span_ids


Held = tuple[Chunk, int] | TraceBuffer
"""A held trace: trace ``j`` of a chunk, or a buffer of its spans."""


class TraceAssembler:
    """Holds incomplete traces; ``add`` returns traces pushed out early by the bound.

    A batch's traces are held in its :class:`~otel_perf.processors.bottlenecks.held.Chunk`
    (row ranges, with their arrival times as arrays): completing them is column
    arithmetic. A trace whose spans come in more than one batch, and the spans of a
    batch taken one by one, are held in a :class:`TraceBuffer` instead.
    """

    def __init__(
        self, quiet_ns: int, max_traces: int, max_spans: int, max_wait_ns: int | None = None
    ) -> None:
        self.quiet_ns = quiet_ns
        self.max_traces = max_traces
        self.max_spans = max_spans
        self.max_wait_ns = max_wait_ns if max_wait_ns is not None else 30 * quiet_ns
        self._traces: OrderedDict[int, Held] = OrderedDict()  # by trace_key, in seq order
        self._chunks: list[Chunk] = []  # chunks holding traces, in arrival order
        self._buffers: dict[int, TraceBuffer] = {}
        self._seq = 0  # traces taken so far: their order
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

        The spans are read into columns once (``held.read``) and grouped by trace id; a
        trace new to the assembler is held in the batch's chunk as one range of rows.
        Spans of a trace already held go through :meth:`_add_each`, and so does every
        span of a batch where grouping could change the outcome (the bound would push
        traces out, an id of an unusual length, a span id twice).
        """
        if not spans:
            return Completed.empty()
        named = operations if isinstance(operations, Named) else named_per_span(spans, operations)
        taken = take(spans, named)
        chunk, lo, hi, last_end, keys = taken[:5]
        if (
            lo is None
            or hi is None
            or last_end is None
            or keys is None
            or len(self._traces) + len(keys) > self.max_traces
        ):
            return self._completed(self._add_each(chunk, taken.arrival()))
        now = self._now_ns
        first = np.maximum(chunk.end[lo], now)
        last = np.maximum(last_end, now)
        deadline = np.minimum(last + self.quiet_ns, first + self.max_wait_ns)
        chunk.hold(keys, lo, hi, first, last, deadline)
        traces, count = self._traces, len(keys)
        if (
            self._done.isdisjoint(keys)
            and traces.keys().isdisjoint(keys)
            and int((hi - lo).max()) <= self.max_spans
        ):
            chunk.take(slice(None), np.arange(self._seq, self._seq + count))
            chunk.settle(every=True)
            self._seq += count
            traces.update(
                zip(keys, zip(repeat(chunk, count), range(count), strict=True), strict=True)
            )
        else:
            self._add_some(chunk, keys)
            chunk.settle()
        if chunk.live:
            self._chunks.append(chunk)
        return Completed.empty()

    def _add_some(self, chunk: Chunk, keys: list[int]) -> None:
        """The chunk's traces one at a time: those already held (or too long) span by
        span, the analysed ones late, the others held in the chunk."""
        traces, done = self._traces, self._done
        for j, (key, a, b) in enumerate(
            zip(keys, chunk.lo.tolist(), chunk.hi.tolist(), strict=True)
        ):
            if key in traces or b - a > self.max_spans:
                self._add_each(chunk, range(a, b))  # within the bound: evicts nothing
            elif key in done:
                self.late_spans += b - a
            else:
                chunk.take(j, self._seq)
                self._seq += 1
                traces[key] = (chunk, j)

    def _add_each(self, chunk: Chunk, rows: Sequence[int]) -> list[tuple[int, Held]]:
        """Take the spans at ``rows`` of ``chunk`` one by one, in order; returns the
        traces the bound pushed out."""
        evicted: list[tuple[int, Held]] = []
        traces, now, spans = self._traces, self._now_ns, chunk.spans
        names, op = chunk.names, chunk.op
        fold = chunk.flags & np.uint8(FOLD)
        for i in rows:
            span = spans[i]
            key = trace_key(span.trace_id)
            held = traces.get(key)
            if held is None:
                if key in self._done:
                    self.late_spans += 1
                    continue
                if len(traces) >= self.max_traces:
                    old_id, old = traces.popitem(last=False)
                    self._done.add(old_id)
                    evicted.append((old_id, self._release(old_id, old)))
                    self.evicted_early += 1
                buffer = TraceBuffer(max(now, span.end_ns), self._seq, span_ids=set())
                self._seq += 1
                traces[key] = self._buffers[key] = buffer
            elif isinstance(held, TraceBuffer):
                buffer = held
            else:
                buffer = self._unpack(key, *held)
            span_ids = buffer.ids()
            if span.span_id in span_ids:
                self.duplicate_spans += 1
                continue
            if len(buffer.spans) >= self.max_spans:
                self.dropped_spans += 1
                continue
            buffer.spans.append(span)
            buffer.operations.append(names[op[i]])
            buffer.fold.append(bool(fold[i]))
            span_ids.add(span.span_id)
            seen = now if now > span.end_ns else span.end_ns
            if seen > buffer.last_seen_ns:
                buffer.last_seen_ns = seen
        return evicted

    def _unpack(self, key: int, chunk: Chunk, j: int) -> TraceBuffer:
        """A trace held in a chunk, moved to a buffer (more spans came for it)."""
        chunk.release(j)
        buffer = TraceBuffer(
            int(chunk.first_seen[j]),
            int(chunk.seq[j]),
            chunk.records(j),
            chunk.operations(j),
            chunk.folded(j),
            None,
            int(chunk.last_seen[j]),
        )
        self._traces[key] = self._buffers[key] = buffer
        return buffer

    def _release(self, key: int, held: Held) -> Held:
        """A trace pushed out: no longer held by its chunk or among the buffers."""
        if isinstance(held, TraceBuffer):
            del self._buffers[key]
        else:
            held[0].release(held[1])
        return held

    def complete(self, now_ns: int) -> Completed:
        """Traces without a new span for ``quiet_ns`` of event time, or waiting too long."""
        self.observe(now_ns)
        chunks: list[Chunk] = []
        index: list[I64] = []
        lo: list[I64] = []
        hi: list[I64] = []
        seqs: list[I64] = []
        keys: list[int] = []
        for chunk in self._chunks:
            found = chunk.due(now_ns)
            if len(found):
                keys += (
                    itemgetter(*found.tolist())(chunk.keys)
                    if len(found) > 1
                    else [chunk.keys[int(found[0])]]
                )
                index.append(np.full(len(found), len(chunks), np.int64))
                lo.append(chunk.lo[found])
                hi.append(chunk.hi[found])
                seqs.append(chunk.seq[found])
                chunks.append(chunk)
        self._chunks = [c for c in self._chunks if c.live]
        quiet, wait = self.quiet_ns, self.max_wait_ns
        buffers = [
            (key, b)
            for key, b in self._buffers.items()
            if b.last_seen_ns + quiet <= now_ns or b.first_seen_ns + wait <= now_ns
        ]
        order = None
        if buffers:
            for key, _ in buffers:
                del self._buffers[key]
            keys += [key for key, _ in buffers]
            seqs.append(np.array([b.seq for _, b in buffers], np.int64))
            order = np.argsort(np.concatenate(seqs), kind="stable")
            keys = [keys[i] for i in order.tolist()]
        deque(map(self._traces.pop, keys), maxlen=0)  # each one popped, in C
        self._done.extend(keys)
        if len(self._traces) < len(keys):  # a dict keeps its largest table: copy it down
            self._traces = OrderedDict(self._traces)
            self._buffers = dict(self._buffers)
        return _collect(chunks, index, lo, hi, [b for _, b in buffers], order, keys)

    def _completed(self, held: list[tuple[int, Held]]) -> Completed:
        """Traces pushed out (or drained), in that order."""
        chunks: dict[int, int] = {}
        listed: list[Chunk] = []
        index, lo, hi, ranks = [], [], [], []
        buffers: list[TraceBuffer] = []
        for _, value in held:
            if isinstance(value, TraceBuffer):
                buffers.append(value)
                ranks.append(-len(buffers))
            else:
                chunk, j = value
                at = chunks.get(id(chunk))
                if at is None:
                    at = chunks[id(chunk)] = len(listed)
                    listed.append(chunk)
                index.append(at)
                lo.append(int(chunk.lo[j]))
                hi.append(int(chunk.hi[j]))
                ranks.append(len(index) - 1)
        count = len(index)
        order = np.array([r if r >= 0 else count - 1 - r for r in ranks], np.int64)
        which, first, past = (np.array(x, np.int64) for x in (index, lo, hi))
        keys = [key for key, _ in held]
        return _collect(listed, [which], [first], [past], buffers, order, keys)

    def drain(self) -> Completed:
        """Every trace held, in the order they were taken."""
        held = list(self._traces.items())
        self._done.extend(self._traces)
        self._traces = OrderedDict()
        self._chunks, self._buffers = [], {}
        return self._completed(held)

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


def _collect(
    chunks: list[Chunk],
    index: list[I64],
    lo: list[I64],
    hi: list[I64],
    buffers: list[TraceBuffer],
    order: I64 | None,
    keys: list[int],
) -> Completed:
    """Traces ``lo[k]``..``hi[k]`` of ``chunks[index[k]]`` (arrays, one per chunk or
    one for all), then the buffers' traces, put in ``order`` (as they are when None);
    ``keys`` are the traces' keys in that order."""
    if buffers:
        spans = [s for b in buffers for s in b.spans]
        names = [n for b in buffers for n in b.operations]
        fold = [f for b in buffers for f in b.fold]
        sizes = np.array([len(b.spans) for b in buffers], np.int64)
        stop = np.cumsum(sizes)
        index = [*index, np.full(len(buffers), len(chunks), np.int64)]
        lo, hi = [*lo, stop - sizes], [*hi, stop]
        chunks = [*chunks, chunk_from_records(spans, names, fold)]
    if not chunks:
        return Completed.empty()
    which, first, past = (np.concatenate(x) for x in (index, lo, hi))
    if order is not None:
        which, first, past = which[order], first[order], past[order]
    return Completed(chunks, which, first, past, keys)
