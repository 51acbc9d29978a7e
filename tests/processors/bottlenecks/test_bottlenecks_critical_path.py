"""Self times and critical paths: exact values on hand-built traces, invariants on random ones."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st
from trace_builder import ms, sid, snapshot, span

from otel_perf.model import SpanKind, SpanRecord
from otel_perf.processors.bottlenecks.critical_path import (
    Segment,
    critical_path,
    critical_path_shares,
    path_shares,
    self_times,
)
from otel_perf.processors.bottlenecks.tracetree import TraceTree, build_tree

Step = tuple[str, float, float]


def path_of(spans: list[SpanRecord], root: str = "root") -> list[Step]:
    """The critical path as (span id, start ms, end ms)."""
    tree = build_tree(spans)
    return [
        (s.span_id.decode(), s.start_ns / 1e6, s.end_ns / 1e6)
        for s in critical_path(tree, sid(root))
    ]


def self_ms(spans: list[SpanRecord]) -> dict[str, float]:
    return {k.decode(): v / 1e6 for k, v in self_times(build_tree(spans)).items()}


def test_nested_spans() -> None:
    spans = [span("root", None, 0, 100), span("a", "root", 10, 60), span("a1", "a", 20, 50)]
    assert path_of(spans) == [
        ("root", 0, 10),
        ("a", 10, 20),
        ("a1", 20, 50),
        ("a", 50, 60),
        ("root", 60, 100),
    ]
    assert self_ms(spans) == {"root": 50, "a": 20, "a1": 30}


def test_parallel_children_only_the_last_to_finish_is_on_the_path() -> None:
    spans = [
        span("root", None, 0, 100),
        span("a", "root", 10, 40),
        span("b", "root", 10, 80),
        span("c", "root", 50, 70),
    ]
    assert path_of(spans) == [("root", 0, 10), ("b", 10, 80), ("root", 80, 100)]
    # Overlapping children count once: they cover 10..80.
    assert self_ms(spans) == {"root": 30, "a": 30, "b": 70, "c": 20}


def test_children_that_finish_before_the_chosen_one_starts_join_the_path() -> None:
    spans = [
        span("root", None, 0, 100),
        span("a", "root", 5, 25),
        span("b", "root", 20, 90),
        span("c", "root", 10, 15),
    ]
    # a overlaps b's start, so it is skipped; c ended before b started.
    assert path_of(spans) == [
        ("root", 0, 10),
        ("c", 10, 15),
        ("root", 15, 20),
        ("b", 20, 90),
        ("root", 90, 100),
    ]


def test_async_children_that_end_after_the_parent_are_clipped() -> None:
    spans = [
        span("root", None, 0, 100, name="handler"),
        span("b", "root", 10, 30, name="SELECT"),
        span("a", "root", 50, 150, name="publish"),
    ]
    assert path_of(spans) == [("root", 0, 10), ("b", 10, 30), ("root", 30, 50), ("a", 50, 100)]
    # Self time is the span's own business: a's work after the parent ended still counts there.
    assert self_ms(spans) == {"root": 30, "b": 20, "a": 100}
    shares = critical_path_shares(build_tree(spans))
    assert shares == {
        ("app", "handler"): ms(30),
        ("app", "SELECT"): ms(20),
        ("app", "publish"): ms(50),
    }


def test_back_to_back_children() -> None:
    spans = [span("root", None, 0, 100), span("a", "root", 10, 50), span("b", "root", 50, 90)]
    assert path_of(spans) == [("root", 0, 10), ("a", 10, 50), ("b", 50, 90), ("root", 90, 100)]
    assert self_ms(spans)["root"] == 20


def test_orphans_have_their_own_path_and_stay_out_of_the_trace_shares() -> None:
    spans = [
        span("root", None, 0, 100, name="GET /", service="web"),
        span("a", "root", 10, 40, name="render", service="web"),
        span("o", "lost-parent", 20, 200, name="job", service="worker"),
        span("o1", "o", 30, 60, name="SELECT", service="worker"),
    ]
    assert path_of(spans, "o") == [("o", 20, 30), ("o1", 30, 60), ("o", 60, 200)]
    shares = critical_path_shares(build_tree(spans))
    assert shares == {("web", "GET /"): ms(70), ("web", "render"): ms(30)}


def test_clock_skew_server_span_is_shifted_into_the_client_span() -> None:
    spans = [
        span("root", None, 0, 60, name="GET /page", service="web", kind=SpanKind.SERVER),
        span("call", "root", 10, 50, name="GET", service="web", kind=SpanKind.CLIENT),
        span("srv", "call", 0, 30, name="GET /api", service="api", kind=SpanKind.SERVER),
        span("q", "srv", 5, 25, name="SELECT", service="api", kind=SpanKind.CLIENT),
    ]
    assert path_of(spans) == [
        ("root", 0, 10),
        ("call", 10, 15),
        ("srv", 15, 20),
        ("q", 20, 40),
        ("srv", 40, 45),
        ("call", 45, 50),
        ("root", 50, 60),
    ]
    assert critical_path_shares(build_tree(spans)) == {
        ("web", "GET /page"): ms(20),
        ("web", "GET"): ms(10),
        ("api", "GET /api"): ms(10),
        ("api", "SELECT"): ms(20),
    }


def test_gather_of_identical_queries_only_the_slowest_counts() -> None:
    ends = {"q1": 30, "q2": 35, "q3": 40, "q4": 60, "q5": 45}
    spans = [span("root", None, 0, 100, name="handler")]
    spans += [
        span(q, "root", 10, end, name="SELECT", kind=SpanKind.CLIENT) for q, end in ends.items()
    ]
    assert path_of(spans) == [("root", 0, 10), ("q4", 10, 60), ("root", 60, 100)]
    assert critical_path_shares(build_tree(spans)) == {
        ("app", "handler"): ms(50),
        ("app", "SELECT"): ms(50),
    }


def test_identical_timestamps_break_ties_by_span_id() -> None:
    spans = [span("root", None, 0, 100)] + [span(q, "root", 10, 90) for q in ("q3", "q1", "q2")]
    assert path_of(spans) == [("root", 0, 10), ("q1", 10, 90), ("root", 90, 100)]


def test_equal_ends_go_to_the_longer_child() -> None:
    spans = [span("root", None, 0, 100), span("z", "root", 20, 90), span("a", "root", 50, 90)]
    assert path_of(spans) == [("root", 0, 20), ("z", 20, 90), ("root", 90, 100)]


def test_zero_duration_spans_leave_no_segment() -> None:
    spans = [span("root", None, 0, 100), span("z", "root", 50, 50), span("a", "root", 60, 60)]
    assert path_of(spans) == [("root", 0, 100)]
    assert self_ms(spans) == {"root": 100, "z": 0, "a": 0}
    assert path_of([span("root", None, 5, 5)]) == [("root", 5, 5)]


def test_segments_carry_service_and_operation() -> None:
    tree = build_tree([span("root", None, 0, 1, name="GET /x", service="web")])
    assert critical_path(tree, sid("root")) == [Segment(sid("root"), "web", "GET /x", 0, ms(1))]
    assert critical_path(tree, sid("root"))[0].duration_ns == ms(1)


def test_analyses_leave_the_spans_alone() -> None:
    spans = [span("root", None, 0, 100), span("a", "root", 50, 150, attrs={"x": [1]})]
    before = snapshot(spans)
    tree = build_tree(spans)
    self_times(tree)
    critical_path(tree, sid("root"))
    critical_path_shares(tree)
    assert snapshot(spans) == before


def test_an_empty_trace_has_no_shares() -> None:
    assert critical_path_shares(build_tree([])) == {}


# --- invariants on random trees -------------------------------------------------------------

KINDS = [SpanKind.INTERNAL, SpanKind.SERVER, SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER]


@st.composite
def random_traces(draw: st.DrawFn) -> list[SpanRecord]:
    """Any shape: overlaps, spills, skew across two services, orphans, zero lengths, ties."""
    count = draw(st.integers(1, 25))
    spans = []
    for i in range(count):
        parent = draw(st.integers(-2, i - 1)) if i else -1
        start = draw(st.integers(0, 60))
        spans.append(
            span(
                i,
                None if parent == -1 else (parent if parent >= 0 else 10_000 + i),
                start,
                start + draw(st.integers(-5, 60)),
                service=draw(st.sampled_from(["a", "b"])),
                kind=draw(st.sampled_from(KINDS)),
            )
        )
    return spans


@st.composite
def nested_traces(draw: st.DrawFn) -> list[SpanRecord]:
    """Children inside their parent and never overlapping each other (touching allowed)."""
    spans = [span(0, None, 0, draw(st.integers(0, 1000)))]
    todo = [(0, 0, spans[0].end_ns // 1_000_000, 0)]
    while todo:
        parent, lo, hi, depth = todo.pop()
        kids = draw(st.integers(0, 3 if depth < 4 else 0))
        cuts = sorted(draw(st.lists(st.integers(lo, hi), min_size=2 * kids, max_size=2 * kids)))
        for start, end in zip(cuts[::2], cuts[1::2], strict=True):
            spans.append(span(len(spans), parent, start, end))
            todo.append((len(spans) - 1, start, end, depth + 1))
    return spans


def check_partitions(tree: TraceTree, root: bytes) -> None:
    path = critical_path(tree, root)
    start, end = tree.windows[root]
    assert sum(s.duration_ns for s in path) == end - start
    assert path[0].start_ns == start and path[-1].end_ns == end
    assert all(a.end_ns == b.start_ns for a, b in zip(path, path[1:], strict=False))
    assert all(s.duration_ns > 0 for s in path) or path == [path[0]]


@settings(max_examples=300, deadline=None)
@given(random_traces())
def test_critical_path_partitions_every_root_and_self_times_stay_in_range(
    spans: list[SpanRecord],
) -> None:
    tree = build_tree(spans)
    assert sorted(tree.walk()) == sorted(tree.spans)
    for root in tree.roots:
        check_partitions(tree, root)
    for span_id, self_ns in self_times(tree).items():
        assert 0 <= self_ns <= tree.duration_ns(span_id)
    assert sum(critical_path_shares(tree).values()) == tree.duration_ns(tree.main_root() or b"")


@settings(max_examples=300, deadline=None)
@given(nested_traces())
def test_without_overlaps_self_times_sum_to_the_root_and_all_lie_on_the_path(
    spans: list[SpanRecord],
) -> None:
    tree = build_tree(spans)
    root = sid(0)
    times = self_times(tree)
    assert sum(times.values()) == tree.duration_ns(root)
    on_path: Counter[bytes] = Counter()
    for segment in critical_path(tree, root):
        on_path[segment.span_id] += segment.duration_ns
    assert {k: v for k, v in times.items() if v} == {k: v for k, v in on_path.items() if v}


def shares_from_segments(path: list[Segment]) -> dict[tuple[str, str], int]:
    """Per (service, operation) ns summed over the segments, keys in path order."""
    shares: dict[tuple[str, str], int] = {}
    for segment in path:
        key = (segment.service, segment.operation)
        shares[key] = shares.get(key, 0) + segment.duration_ns
    return shares


@settings(max_examples=300, deadline=None)
@given(random_traces())
def test_path_shares_equal_the_segments_summed_in_path_order(spans: list[SpanRecord]) -> None:
    # path_shares is the analyser's fast path: same sums and the same key order
    tree = build_tree(spans)
    for root in tree.roots:
        expected = shares_from_segments(critical_path(tree, root))
        got = path_shares(tree, root)
        assert got == expected
        assert list(got) == list(expected)
