"""The columnar/C path (``fast.add_traces``) gives a window exactly what the Python tree
(``Analyser.add_trace`` per trace, the specification) gives, on seeded random traces
that hold every case the tree treats specially."""

from __future__ import annotations

import random
from dataclasses import fields, is_dataclass
from typing import Any

import numpy as np
import pytest

from otel_perf.model import Resource, SpanKind, SpanRecord
from otel_perf.processors.bottlenecks import fast
from otel_perf.processors.bottlenecks.aggregate import Window
from otel_perf.processors.bottlenecks.analyse import Analyser
from otel_perf.processors.bottlenecks.config import BottlenecksConfig
from otel_perf.processors.bottlenecks.memory import DELTA
from otel_perf.processors.bottlenecks.trace_columns import TraceColumns

MS = 1_000_000
MAPS = ("ops", "entries", "queries", "patterns", "slow", "phases", "memory")
STATEMENTS = (
    "SELECT * FROM users WHERE id = 1",
    "SELECT * FROM orders WHERE user_id = 7",
    "UPDATE carts SET n = 2 WHERE id = 3",
)
KINDS = (SpanKind.INTERNAL, SpanKind.CLIENT, SpanKind.SERVER, SpanKind.PRODUCER, SpanKind.CONSUMER)


def resources() -> list[Resource]:
    def make(service: str, host: str) -> Resource:
        return Resource({"service.name": service, "host.name": host})

    # the last one shares the first one's clock but is another object
    return [make("shop", "a"), make("pay", "b"), make("db", "c"), make("shop", "a")]


class TraceMaker:
    """Random traces: orphans, several roots, skewed children, folded spans, repeated and
    odd ids, parent cycles, zero-length and reversed spans, repeated calls, events."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.resources = resources()

    def trace(self) -> list[SpanRecord]:
        rng = self.rng
        trace_id = rng.randbytes(16)
        root = self.span(trace_id, b"", SpanKind.SERVER, 0, rng.choice((0, 1, 5)) * 100 * MS)
        spans = [root]
        for _ in range(rng.randrange(0, 14)):
            spans.append(self.child(trace_id, rng.choice(spans)))
        if rng.random() < 0.25:
            spans += self.repeats(trace_id, rng.choice(spans))
        self.damage(spans)
        rng.shuffle(spans)
        return spans

    def span(self, trace_id: bytes, parent: bytes, kind: int, start: int, end: int) -> SpanRecord:
        rng = self.rng
        name, attributes = self.naming(kind)
        events: tuple[tuple[int, str, dict[str, Any]], ...] = ()
        if kind == SpanKind.SERVER and rng.random() < 0.3:
            events = tuple((start + rng.randrange(0, 50) * MS, f"mark {i}", {}) for i in range(2))
        if kind == SpanKind.SERVER and rng.random() < 0.3:
            attributes[DELTA] = rng.randrange(-1000, 5000)
        resource = rng.choice(self.resources)
        return SpanRecord(
            trace_id, rng.randbytes(8), parent, resource, "scope", name, kind, start, end,
            0, "", attributes, events,
        )  # fmt: skip

    def naming(self, kind: int) -> tuple[str, dict[str, Any]]:
        rng = self.rng
        if kind == SpanKind.SERVER:
            route = rng.choice(("/a", "/b/{id}", "/c"))
            return f"GET {route}", {"http.request.method": "GET", "http.route": route}
        if kind == SpanKind.CLIENT and rng.random() < 0.5:
            statement = rng.choice(STATEMENTS)
            return "SELECT", {"db.system": "postgresql", "db.statement": statement}
        if kind == SpanKind.CLIENT:
            url = f"http://pricing:8080/quote/{rng.randrange(100)}"
            return "GET", {"http.request.method": "GET", "url.full": url}
        if kind == SpanKind.INTERNAL and rng.random() < 0.05:
            return "GET /a http send", {}
        return rng.choice(("work", "render", "load 17")), {}

    def child(self, trace_id: bytes, parent: SpanRecord) -> SpanRecord:
        rng = self.rng
        low, high = parent.start_ns, max(parent.end_ns, parent.start_ns)
        outside = rng.random() < 0.05  # skew, or work that outlives its parent
        if outside:
            low, high = low - 200 * MS, high + 300 * MS
        start = rng.randrange(low, high + 1, MS) if high > low else low
        end = start + rng.choice((0, 1, 2, 5, 10, 40)) * MS
        end = end if outside else min(end, high)
        if rng.random() < 0.05:
            end = start - MS  # ends before it starts
        kind = rng.choice(KINDS)
        child = self.span(trace_id, parent.span_id, kind, start, end)
        if rng.random() < 0.7:  # mostly on its parent's clock
            child.resource = parent.resource
        return child

    def repeats(self, trace_id: bytes, parent: SpanRecord) -> list[SpanRecord]:
        """Five to eight calls with one statement: in a loop or gathered."""
        rng = self.rng
        statement = rng.choice(STATEMENTS)
        overlap = rng.random() < 0.3
        out, at = [], parent.start_ns
        for _ in range(rng.randrange(5, 9)):
            span = self.span(trace_id, parent.span_id, SpanKind.CLIENT, at, at + 20 * MS)
            span.attributes = {"db.system": "postgresql", "db.statement": statement}
            out.append(span)
            at += 5 * MS if overlap else 21 * MS
        return out

    def damage(self, spans: list[SpanRecord]) -> None:
        rng = self.rng
        if len(spans) > 2 and rng.random() < 0.03:  # a span id twice
            spans[-1].span_id = spans[1].span_id
        if len(spans) > 2 and rng.random() < 0.03:  # a parent cycle
            a, b = spans[1], spans[2]
            a.parent_span_id, b.parent_span_id = b.span_id, a.span_id
        if spans and rng.random() < 0.02:  # an id of another length
            spans[-1].span_id = spans[-1].span_id[:4]
        if len(spans) > 1 and rng.random() < 0.05:  # a parent that never arrived
            spans[-1].parent_span_id = rng.randbytes(8)
        if len(spans) > 1 and rng.random() < 0.05:  # a second true root
            spans[-1].parent_span_id = b""


def state(window: Window) -> dict[str, Any]:
    """Everything a window holds, in insertion order; exemplar heaps as sets."""
    out: dict[str, Any] = {"traces": window.traces, "critical": window.critical_total_ns}
    for name in MAPS:
        bounded = getattr(window, name)
        out[name] = ([(k, plain(v)) for k, v in bounded.items()], bounded.overflowed)
    return out


def plain(value: Any) -> Any:
    if type(value).__name__ == "Exemplars":
        return sorted(value.heap)
    if is_dataclass(value):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return [(k, plain(v)) for k, v in value.items()]
    return value


def both(config: BottlenecksConfig, chunks: list[list[list[SpanRecord]]]) -> tuple[Any, Any]:
    analyser = Analyser(config)
    spec, quick = (Window(0, *bounds(config)) for _ in range(2))
    for traces in chunks:
        for trace in traces:
            analyser.add_trace(spec, trace)
        fast.add_traces(analyser, quick, traces)
    quick.settle()  # latencies wait to be recorded in one step per window
    return state(spec), state(quick)


def bounds(config: BottlenecksConfig) -> tuple[int, int, int, int]:
    c = config
    return c.max_operations, c.max_fingerprints, c.max_routes, c.exemplars


CONFIGS = {
    "defaults": BottlenecksConfig(slow_request_threshold=0.3),
    "tight bounds": BottlenecksConfig(
        max_operations=6, max_fingerprints=2, max_routes=2, exemplars=1, slow_request_threshold=0.3
    ),
}


def test_the_c_helper_was_built() -> None:
    assert fast.BUILT, "processors/bottlenecks/_tree.c did not build: pip install -e . with gcc"
    assert fast.NATIVE  # the processor uses it


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_the_columns_and_the_tree_give_the_same_window(
    seed: int, config: BottlenecksConfig
) -> None:
    maker = TraceMaker(seed)
    chunks = [[maker.trace() for _ in range(size)] for size in (1, 40, 150, 7)]
    spec, quick = both(config, chunks)
    assert quick == spec
    assert spec["traces"] > 150 and spec["patterns"][0] and spec["slow"][0]


def test_the_random_traces_reach_every_irregular_case() -> None:
    """The pre-pass sends these to the Python tree; the test above covers them."""
    maker = TraceMaker(3)
    traces = [maker.trace() for _ in range(400)]
    columns = TraceColumns(traces)
    assert 0.1 < columns.irregular.mean() < 0.5
    names = {s.name for trace in traces for s in trace}
    assert "GET /a http send" in names  # a framework-internal span to fold


def test_exemplar_ties_keep_the_same_trace_ids() -> None:
    """Many traces of one duration: which ids a heap keeps depends on the order of the
    offers, and the grouped offers keep that order."""
    resource = resources()[0]
    traces = []
    for i in range(30):
        root = SpanRecord(
            bytes([i]) * 16, bytes([i + 1]) * 8, b"", resource, "s", "GET /a", SpanKind.SERVER,
            0, 100 * MS, 0, "", {"http.route": "/a"},
        )  # fmt: skip
        traces.append([root])
    spec, quick = both(BottlenecksConfig(exemplars=2), [traces[:10], traces[10:]])
    assert quick == spec


def test_the_c_helper_rejects_columns_that_disagree() -> None:
    from otel_perf.processors.bottlenecks import _tree  # type: ignore[attr-defined]

    n = np.zeros(2, np.int64)
    with pytest.raises(ValueError, match="lengths disagree"):
        _tree.analyse(
            np.array([0, 2], np.int64), np.full(3, -1, np.int32), n, n, n.astype(np.uint64),
            np.zeros(2, np.uint8), n.copy(), n.copy(), np.zeros(2, np.int32),
            np.zeros(1, np.int32), np.zeros(1, np.uint8),
        )  # fmt: skip


def test_the_c_helper_names_a_column_of_the_wrong_width_and_lets_go_of_the_others() -> None:
    from otel_perf.processors.bottlenecks import _tree  # type: ignore[attr-defined]

    offsets, sid, pid = np.zeros(2, np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64)
    has_parent, wrong, repeated = (
        np.zeros(1, np.uint8),
        np.zeros(1, np.int64),
        np.zeros(1, np.uint8),
    )
    with pytest.raises(ValueError, match="parent: expected items of 4 bytes"):
        _tree.parents(offsets, sid, pid, has_parent, wrong, repeated)
    # a buffer still exported holds a reference: the array could not resize
    offsets.resize(8)
    sid.resize(8)
    pid.resize(8)
    has_parent.resize(8)


def test_a_wide_fan_out_is_ordered_as_the_tree_orders_it() -> None:
    """Hundreds of children under one parent, in random order with tied times: the
    C helper's merge sort orders them (and their pending list) as Python's sort does."""
    rng = random.Random(9)
    resource = resources()[0]
    trace_id = rng.randbytes(16)

    def make(span_id: bytes, parent: bytes, kind: int, start: int, end: int) -> SpanRecord:
        return SpanRecord(
            trace_id, span_id, parent, resource, "s", "work", kind, start, end, 0, "", {}
        )

    root = make(rng.randbytes(8), b"", SpanKind.SERVER, 0, 2_000 * MS)
    spans = [root]
    for _ in range(700):
        start = rng.randrange(0, 2_000, 5) * MS
        end = start + rng.choice((0, 5, 10, 300)) * MS
        spans.append(make(rng.randbytes(8), root.span_id, SpanKind.INTERNAL, start, end))
    rng.shuffle(spans)
    spec, quick = both(BottlenecksConfig(), [[spans], [list(reversed(spans))]])
    assert quick == spec and spec["traces"] == 2


def test_deferred_latencies_are_recorded_as_they_came() -> None:
    """Past MAX_DEFERRED waiting values a histogram is recorded at once; either way the
    result is what recording each value in turn gives, sum included."""
    from otel_perf.histogram import ExponentialHistogram
    from otel_perf.processors.bottlenecks.aggregate import MAX_DEFERRED

    rng = np.random.default_rng(5)
    window = Window(0, 10, 10, 10, 3)
    deferred, direct = ExponentialHistogram(), ExponentialHistogram()
    for size in (3, MAX_DEFERRED, 7, 1):
        values = rng.lognormal(-3, 1, size)
        window.defer(deferred, values)
        for value in values.tolist():
            direct.record(value)
    assert deferred.count == MAX_DEFERRED + 3  # the first two parts went in at the bound
    window.settle()
    assert deferred == direct and deferred.sum == direct.sum


def test_records_are_read_alike_without_the_c_helper() -> None:
    """``held.read`` in Python (an install without a compiler) gives the C reader's columns."""
    from otel_perf.processors.bottlenecks import held

    maker = TraceMaker(11)
    spans = [s for _ in range(60) for s in maker.trace()]
    named = held.named_per_span(spans, None)
    native = held.read(spans, named)
    n = len(spans)
    out = [np.empty(n, dtype) for dtype in held.DTYPES[:-2]]
    tid, flags = np.empty((n, 2), np.uint64), np.empty(n, np.uint8)
    resources = held._read_python(spans, out, tid, flags)
    flags[named.fold] |= np.uint8(held.FOLD)
    assert resources == native.resources and len(resources) == 4
    for got, want in zip([*out, flags], native.columns, strict=False):
        assert got.tolist() == want.tolist()
    assert tid.tolist() == native.tid.tolist()
    assert (flags & held.IRREGULAR).any() and (flags & held.EVENTS).any()


def test_parents_and_skew_are_found_alike_in_small_and_large_traces() -> None:
    """``_tree.parents`` scans a small trace pairwise and sorts a large one; both give
    the first row holding each parent id and flag a span id seen twice, as a plain
    search does; ``_tree.skewed`` marks the traces ``TraceColumns`` used to mark."""
    from otel_perf.processors.bottlenecks import _tree  # type: ignore[attr-defined]

    rng = random.Random(18)
    sizes = [rng.randrange(1, 60) for _ in range(300)] + [24, 25, 1, 2]
    offsets = np.zeros(len(sizes) + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    n = int(offsets[-1])
    sid = np.array([rng.randrange(1, 40) for _ in range(n)], np.uint64)  # repeats happen
    pid = np.array([rng.randrange(0, 45) for _ in range(n)], np.uint64)
    has = (pid != 0).astype(np.uint8)
    parent, repeated = np.empty(n, np.int32), np.empty(len(sizes), np.uint8)
    _tree.parents(offsets, sid, pid, has, parent, repeated)
    resource = np.array([rng.randrange(2) for _ in range(n)], np.int64)
    kind = np.array([rng.choice(KINDS) for _ in range(n)], np.int64)
    start = np.array([rng.randrange(100) for _ in range(n)], np.int64)
    end = start + np.array([rng.randrange(50) for _ in range(n)], np.int64)
    mark = np.zeros(len(sizes), np.uint8)
    _tree.skewed(offsets, parent, resource, kind, start, end, mark)
    skews = 0
    for t, (lo, hi) in enumerate(zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)):
        ids = sid[lo:hi].tolist()
        assert repeated[t] == (len(set(ids)) < len(ids))
        skewed = False
        for i in range(lo, hi):
            want = ids.index(pid[i]) + lo if has[i] and pid[i] in ids else -1
            assert parent[i] == want
            p = want
            if p >= 0 and resource[i] != resource[p]:
                sync = kind[p] != SpanKind.PRODUCER and kind[i] != SpanKind.CONSUMER
                outside = start[i] < start[p] or start[i] > end[p] or end[i] > end[p]
                skewed |= bool(sync and outside)
        assert mark[t] == skewed
        skews += skewed
    assert 0 < skews < len(sizes)  # both outcomes were reached


@pytest.mark.parametrize("span", [10, 2**40, 2**62])
def test_offers_worth_making_are_found_whatever_the_weights_span(span: int) -> None:
    """``grouped.top`` keeps, per group, the rows at least as heavy as its k-th heaviest
    (ties included), whether group and weight fit one sort key or need the lexsort."""
    from otel_perf.processors.bottlenecks.grouped import top

    rng = random.Random(span)
    groups = np.array([rng.randrange(50) for _ in range(2000)], np.int64)
    weights = np.array([rng.randrange(span) - span // 3 for _ in range(2000)], np.int64)
    for k in (1, 3, 5):
        want = []
        for g in sorted(set(groups.tolist())):
            rows = np.flatnonzero(groups == g)
            bar = sorted(weights[rows].tolist(), reverse=True)[min(k, len(rows)) - 1]
            want += rows[weights[rows] >= bar].tolist()
        assert top(groups, weights, k) == sorted(want)


def test_held_records_leave_the_cyclic_collector_and_are_still_freed() -> None:
    """The records a batch hands the assembler are untracked by the cyclic GC (they
    cannot be part of a cycle); a record of another type (a subclass, which could hold
    anything) stays tracked; analysed and dropped, the records are freed by reference
    counting as before."""
    import gc
    import sys
    import weakref

    from otel_perf.processors.bottlenecks import _tree  # type: ignore[attr-defined]
    from otel_perf.processors.bottlenecks.assembly import TraceAssembler

    class Special(SpanRecord):
        __slots__ = ("__weakref__",)

    maker = TraceMaker(3)
    spans = [s for _ in range(20) for s in maker.trace()]
    odd = Special(*(getattr(spans[0], name) for name in SpanRecord.__slots__))
    tracked = [gc.is_tracked(s) for s in [*spans, odd]]
    assert all(tracked)
    before = sys.getrefcount(spans[0])
    assembler = TraceAssembler(1, 1000, 1000)
    assembler.add([*spans, odd])
    tracked = [gc.is_tracked(s) for s in spans]
    assert not any(tracked)
    assert gc.is_tracked(odd)
    assert _tree.untrack([*spans, odd], SpanRecord) == 0  # nothing left to untrack
    held = sys.getrefcount(spans[0])
    assert held > before
    gone = weakref.ref(odd)
    completed = assembler.complete(10**12)
    assert len(completed) > 0
    del completed, odd  # analysed: nothing of the batch is held any more
    assert gone() is None
    after = sys.getrefcount(spans[0])
    assert after == before
