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

from otel_perf.model import SpanRecord


class Trace(list[SpanRecord]):
    """A trace's spans, with each span's operation when it was named at arrival.

    ``operations[i]`` is ``spans[i]``'s :func:`otel_perf.semconv.kept_operation`, named
    once per distinct combination of the batch it came in (``SpanColumns.operations``);
    ``named`` is False when a span arrived without one (then none are trusted).
    """

    __slots__ = ("named", "operations")

    def __init__(self) -> None:
        super().__init__()
        self.operations: list[str] = []
        self.named = True


@dataclass(slots=True)
class TraceBuffer:
    first_seen_ns: int
    spans: Trace = field(default_factory=Trace)
    span_ids: set[bytes] = field(default_factory=set)
    last_seen_ns: int = 0


class TraceAssembler:
    """Holds incomplete traces; ``add`` returns traces pushed out early by the bound."""

    def __init__(
        self, quiet_ns: int, max_traces: int, max_spans: int, max_wait_ns: int | None = None
    ) -> None:
        self.quiet_ns = quiet_ns
        self.max_traces = max_traces
        self.max_spans = max_spans
        self.max_wait_ns = max_wait_ns if max_wait_ns is not None else 30 * quiet_ns
        self._traces: OrderedDict[bytes, TraceBuffer] = OrderedDict()
        self._done: OrderedDict[bytes, None] = OrderedDict()  # recently analysed trace ids
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
        self, spans: list[SpanRecord], operations: Sequence[str] | None = None
    ) -> list[list[SpanRecord]]:
        """Take ``spans`` (with their operations, when named: one per span)."""
        evicted: list[list[SpanRecord]] = []
        traces, now = self._traces, self._now_ns
        named = operations is not None
        names: Sequence[str] = operations if operations is not None else ()
        for i, span in enumerate(spans):
            trace_id = span.trace_id
            buffer = traces.get(trace_id)
            if buffer is None:
                if trace_id in self._done:
                    self.late_spans += 1
                    continue
                if len(traces) >= self.max_traces:
                    old_id, old = traces.popitem(last=False)
                    self._remember(old_id)
                    evicted.append(old.spans)
                    self.evicted_early += 1
                buffer = traces[trace_id] = TraceBuffer(max(now, span.end_ns))
            if span.span_id in buffer.span_ids:
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
            buffer.span_ids.add(span.span_id)
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
        out: list[list[SpanRecord]] = []
        for tid in done:
            out.append(self._traces.pop(tid).spans)
            self._remember(tid)
        return out

    def drain(self) -> list[list[SpanRecord]]:
        traces: list[list[SpanRecord]] = [b.spans for b in self._traces.values()]
        for tid in self._traces:
            self._remember(tid)
        self._traces.clear()
        return traces

    COUNTERS = ("evicted_early", "dropped_spans", "late_spans", "duplicate_spans")

    def done_ids(self) -> list[str]:
        """The trace ids analysed recently, oldest first, in hex (for the store)."""
        return [trace_id.hex() for trace_id in self._done]

    def restore(self, done: list[str], counters: dict[str, int]) -> None:
        """Take back :meth:`done_ids` and the counters (at most ``max_traces`` ids).

        Raises:
            ValueError: on an id that is not hex.
        """
        values = {name: int(counters.get(name, 0)) for name in self.COUNTERS}
        self._done = OrderedDict((bytes.fromhex(t), None) for t in done[-self.max_traces :])
        for name, value in values.items():
            setattr(self, name, value)

    def _remember(self, trace_id: bytes) -> None:
        self._done[trace_id] = None
        if len(self._done) > self.max_traces:
            self._done.popitem(last=False)
