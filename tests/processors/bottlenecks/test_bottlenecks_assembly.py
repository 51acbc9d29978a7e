"""The assembler holding batches as columns, grouped by trace id, gives what taking
spans one by one into lists gives: the same traces, in the same order, with the same
counters."""

from __future__ import annotations

import random
from collections import OrderedDict
from typing import Any

import pytest
from recorded import scenario_batches
from scenarios import INJECTIONS

from otel_perf.component import Context
from otel_perf.model import Resource, SpanBatch, SpanRecord
from otel_perf.processors.bottlenecks.aggregate import Exemplars
from otel_perf.processors.bottlenecks.assembly import TraceAssembler, trace_key
from otel_perf.processors.bottlenecks.completed import Completed
from otel_perf.processors.bottlenecks.config import BottlenecksConfig
from otel_perf.processors.bottlenecks.processor import BottlenecksProcessor
from otel_perf.processors.bottlenecks.recent import RecentIds
from otel_perf.store import Store

S = 1_000_000_000
RESOURCE = Resource({"service.name": "checkout"})


def batches(seed: int) -> list[SpanBatch]:
    """Spans of a few dozen traces spread over batches, with retried span ids, traces
    longer than the span bound and, now and then, hand-made ids of other lengths."""
    rng = random.Random(seed)
    trace_ids = [rng.randbytes(16) for _ in range(40)] + [b"t1", b"t1" + bytes(14)]
    out, span_ids = [], [rng.randbytes(8) for _ in range(60)]
    for b in range(12):
        spans = []
        for _ in range(rng.randrange(0, 50)):
            end = (b + 1) * S + rng.randrange(S)
            span_id = rng.choice(span_ids) if rng.random() < 0.1 else rng.randbytes(8)
            trace = rng.choice(trace_ids[:40] if rng.random() < 0.95 else trace_ids)
            spans.append(
                SpanRecord(
                    trace,
                    span_id,
                    b"",
                    RESOURCE,
                    "s",
                    f"op{rng.randrange(5)}",
                    rng.randrange(6),
                    end - rng.randrange(S),
                    end,
                    0,
                    "",
                    {},
                )  # fmt: skip
            )
        out.append(SpanBatch(spans))
    return out


class SpanBySpan:
    """The specification: each span taken in turn into a list per trace."""

    COUNTERS = TraceAssembler.COUNTERS

    def __init__(self, quiet_ns: int, max_traces: int, max_spans: int, wait_ns: int) -> None:
        self.quiet_ns, self.max_traces, self.max_spans, self.wait_ns = (
            quiet_ns, max_traces, max_spans, wait_ns,
        )  # fmt: skip
        self.traces: OrderedDict[int, list[Any]] = OrderedDict()  # [first, last, spans, ops]
        self.done = RecentIds(max_traces)
        self.now = 0
        self.evicted_early = self.dropped_spans = self.late_spans = self.duplicate_spans = 0

    def add(self, spans: list[SpanRecord], names: list[str]) -> list[tuple[list[bytes], list[str]]]:
        evicted = []
        for span, name in zip(spans, names, strict=True):
            key = trace_key(span.trace_id)
            held = self.traces.get(key)
            if held is None:
                if key in self.done:
                    self.late_spans += 1
                    continue
                if len(self.traces) >= self.max_traces:
                    old_key, old = self.traces.popitem(last=False)
                    self.done.add(old_key)
                    evicted.append(old)
                    self.evicted_early += 1
                held = self.traces[key] = [max(self.now, span.end_ns), 0, [], []]
            if span.span_id in {s.span_id for s in held[2]}:
                self.duplicate_spans += 1
                continue
            if len(held[2]) >= self.max_spans:
                self.dropped_spans += 1
                continue
            held[2].append(span)
            held[3].append(name)
            held[1] = max(held[1], self.now, span.end_ns)
        return [([s.span_id for s in h[2]], h[3]) for h in evicted]

    def complete(self, now: int) -> list[tuple[list[bytes], list[str]]]:
        self.now = max(self.now, now)
        done = [
            k
            for k, (first, last, _, _) in self.traces.items()
            if last + self.quiet_ns <= now or first + self.wait_ns <= now
        ]
        out = [self.traces.pop(k) for k in done]
        self.done.extend(done)
        return [([s.span_id for s in h[2]], h[3]) for h in out]


def outcome(traces: Completed) -> list[tuple[list[bytes], list[str]]]:
    listed = traces.traces()
    # each trace's id, told from its key, is the one its records carry
    assert [traces.trace_id(t) for t in range(len(listed))] == [t[0].trace_id.hex() for t in listed]
    return [([s.span_id for s in t], t.operations) for t in listed]


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("bounds", [(50_000, 10_000), (8, 6), (30, 3)])
def test_grouped_batches_are_assembled_as_span_by_span(seed: int, bounds: tuple[int, int]) -> None:
    grouped, each = TraceAssembler(2 * S, *bounds, 5 * S), SpanBySpan(2 * S, *bounds, 5 * S)
    rng = random.Random(seed)
    for i, batch in enumerate(batches(seed)):
        names = [s.name for s in batch.spans]
        named = rng.random() < 0.8
        got = grouped.add(batch.spans, names if named else None)
        assert outcome(got) == each.add(batch.spans, names if named else per_span(batch.spans))
        now = (i + 1) * S
        grouped.observe(now)
        each.now = max(each.now, now)
        if i % 3 == 2:
            assert outcome(grouped.complete(now)) == each.complete(now)
        assert len(grouped) == len(each.traces)
    assert outcome(grouped.complete(10**6 * S)) == each.complete(10**6 * S)
    assert grouped.done_ids() == [format(k, "x")[1:] for k in each.done]
    for name in TraceAssembler.COUNTERS:
        assert getattr(grouped, name) == getattr(each, name), name


def per_span(spans: list[SpanRecord]) -> list[str]:
    from otel_perf.semconv import kept_operation

    return [kept_operation(s) for s in spans]


def test_recent_ids_forget_the_oldest_and_round_trip_through_hex() -> None:
    assembler = TraceAssembler(S, 3, 10)
    ids = [bytes([i]) * 16 for i in range(5)] + [b"", b"\x00", b"ab"]
    for trace_id in ids:
        assembler.add(
            [SpanRecord(trace_id, b"s" * 8, b"", RESOURCE, "s", "op", 2, 0, 1, 0, "", {})]
        )
        assembler.drain()
    assert assembler.done_ids() == ["", "00", "6162"]
    restored = TraceAssembler(S, 2, 10)
    restored.restore(assembler.done_ids(), {})
    assert restored.done_ids() == ["00", "6162"]
    recent = RecentIds(2)
    recent.extend([1, 2, 1, 3])
    assert list(recent) == [2, 3] and 1 not in recent and len(recent) == 2


def test_packed_exemplars_read_and_take_offers_as_before() -> None:
    rng = random.Random(7)
    plain, packed = Exemplars(3), Exemplars(3)
    for i in range(40):
        weight, trace = rng.randrange(10**12), f"{i:032x}"
        plain.offer(weight, trace)
        packed.offer(weight, trace)
        if i % 4 == 0:
            packed.pack()
            assert packed.ids() == plain.ids() and sorted(packed.heap) == sorted(plain.heap)
            assert packed.floor() == plain.floor()
    assert packed == plain
    huge = Exemplars(1, [(2**70, "x")])
    huge.pack()  # past int64: left unpacked
    assert huge.heap == [(2**70, "x")]


def run(batches: list[SpanBatch], flush_every: int | None) -> list[Any]:
    """Findings of every tick and the last snapshot, flushing (so packing the window
    being filled) every ``flush_every`` batches."""
    config = BottlenecksConfig(trace_quiet_time=1, min_traces=2)
    processor = BottlenecksProcessor(Context("bottlenecks", Store(":memory:")), config)
    processor.start()
    out: list[Any] = []
    now = batches[0].spans[0].end_ns
    for i, batch in enumerate(batches):
        processor.consume_spans(batch)
        now += 20 * S
        out += [f.model_dump() for f in processor.tick(now)]
        if flush_every and i % flush_every == 0:
            processor.flush(now)
    return [*out, processor.snapshot()]


@pytest.mark.parametrize("inject", [i for i in INJECTIONS if i])
def test_packing_at_each_flush_changes_no_finding(inject: str) -> None:
    batches = scenario_batches(inject, traces=60)
    assert run(batches, 1) == run(batches, None)


def test_a_trace_still_receiving_spans_does_not_hold_its_first_batch() -> None:
    """The batch's chunk is let go once its other traces complete: the trace that got
    more spans later took its own records to a buffer."""

    def span(trace: int, number: int, end: int) -> SpanRecord:
        return SpanRecord(
            bytes([trace + 1]) * 16, bytes([trace + 1, number + 1]) * 4, b"", RESOURCE, "s",
            "op", 2, end - S // 10, end, 0, "", {},
        )  # fmt: skip

    assembler = TraceAssembler(2 * S, 100, 100, 60 * S)
    assembler.add([span(t, n, S) for t in range(10) for n in range(4)])
    assert len(assembler) == 10 and len(assembler._chunks) == 1
    assembler.observe(S)
    assembler.add([span(0, 9, 3 * S)])  # trace 0 goes on: last seen at 3 s
    done = assembler.complete(4 * S)
    assert len(done) == 9 and not assembler._chunks and len(assembler) == 1
    (rest,) = assembler.complete(6 * S).traces()
    assert [s.span_id[1] for s in rest] == [1, 2, 3, 4, 10]
