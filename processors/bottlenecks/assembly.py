"""Trace assembly: spans grouped by trace id until the trace has been quiet.

A trace is complete once no span of it has ended within ``quiet_ns`` of event
time ``now``. The map is bounded: past ``max_traces`` the oldest trace is handed
out early, analysed as it is, and counted; a trace past ``max_spans`` keeps its
first spans and counts the rest.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from otel_perf.model import SpanRecord


@dataclass(slots=True)
class TraceBuffer:
    spans: list[SpanRecord] = field(default_factory=list)
    last_end_ns: int = 0


class TraceAssembler:
    """Holds incomplete traces; ``add`` returns traces pushed out early by the bound."""

    def __init__(self, quiet_ns: int, max_traces: int, max_spans: int) -> None:
        self.quiet_ns = quiet_ns
        self.max_traces = max_traces
        self.max_spans = max_spans
        self._traces: OrderedDict[bytes, TraceBuffer] = OrderedDict()
        self.evicted_early = 0
        self.dropped_spans = 0

    def __len__(self) -> int:
        return len(self._traces)

    def add(self, spans: list[SpanRecord]) -> list[list[SpanRecord]]:
        evicted: list[list[SpanRecord]] = []
        traces = self._traces
        for span in spans:
            buffer = traces.get(span.trace_id)
            if buffer is None:
                if len(traces) >= self.max_traces:
                    evicted.append(traces.popitem(last=False)[1].spans)
                    self.evicted_early += 1
                buffer = traces[span.trace_id] = TraceBuffer()
            if len(buffer.spans) >= self.max_spans:
                self.dropped_spans += 1
                continue
            buffer.spans.append(span)
            if span.end_ns > buffer.last_end_ns:
                buffer.last_end_ns = span.end_ns
        return evicted

    def complete(self, now_ns: int) -> list[list[SpanRecord]]:
        """Traces quiet for ``quiet_ns`` of event time (all of them when ``now_ns`` is None)."""
        done = [tid for tid, b in self._traces.items() if b.last_end_ns + self.quiet_ns <= now_ns]
        return [self._traces.pop(tid).spans for tid in done]

    def drain(self) -> list[list[SpanRecord]]:
        traces = [b.spans for b in self._traces.values()]
        self._traces.clear()
        return traces
