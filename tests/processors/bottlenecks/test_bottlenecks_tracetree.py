"""Trace trees: ordering, orphans, cycles and clock-skew correction."""

from __future__ import annotations

from trace_builder import ms, sid, snapshot, span

from otel_perf.model import SpanKind
from otel_perf.processors.bottlenecks.tracetree import build_tree, clip


def window_ms(tree_windows: tuple[int, int]) -> tuple[float, float]:
    return tree_windows[0] / 1e6, tree_windows[1] / 1e6


def test_children_are_ordered_by_start_then_id() -> None:
    spans = [
        span("c", "root", 30, 40),
        span("b", "root", 10, 20),
        span("a", "root", 30, 35),
        span("root", None, 0, 100),
    ]
    tree = build_tree(spans)
    assert tree.roots == (sid("root"),)
    assert tree.children[sid("root")] == (sid("b"), sid("a"), sid("c"))
    assert tree.children[sid("a")] == ()
    assert tree.orphans == frozenset()
    assert list(tree.walk()) == [sid(x) for x in ("root", "b", "a", "c")]


def test_spans_whose_parent_never_arrived_become_orphan_roots() -> None:
    spans = [
        span("root", None, 0, 100),
        span("o", "missing", 20, 60),
        span("o1", "o", 30, 40),
    ]
    tree = build_tree(spans)
    assert tree.roots == (sid("root"), sid("o"))
    assert tree.orphans == {sid("o")}
    assert tree.children[sid("o")] == (sid("o1"),)
    assert tree.main_root() == sid("root")


def test_main_root_prefers_a_true_root_then_the_longest() -> None:
    only_orphans = build_tree([span("o1", "x", 0, 10), span("o2", "y", 5, 50)])
    assert only_orphans.main_root() == sid("o2")
    assert build_tree([]).main_root() is None


def test_parent_cycles_are_cut_without_losing_spans() -> None:
    spans = [span("b", "a", 10, 20), span("a", "b", 0, 30), span("c", "a", 12, 14)]
    tree = build_tree(spans)
    assert tree.roots == (sid("a"),)
    assert tree.orphans == {sid("a")}
    assert sorted(tree.walk()) == sorted(sid(x) for x in "abc")
    selfish = build_tree([span("s", "s", 0, 1)])
    assert selfish.roots == (sid("s"),) and selfish.children[sid("s")] == ()


def test_first_record_of_a_repeated_span_id_wins() -> None:
    tree = build_tree([span("a", None, 0, 10), span("a", None, 0, 99)])
    assert tree.duration_ns(sid("a")) == ms(10)


def test_span_ending_before_it_starts_reads_as_zero_length() -> None:
    tree = build_tree([span("a", None, 50, 40)])
    assert tree.windows[sid("a")] == (ms(50), ms(50))


def test_skewed_server_span_is_centred_in_its_client_span_with_its_subtree() -> None:
    # The api host's clock runs 15 ms behind: its server span starts before the client call.
    spans = [
        span("root", None, 0, 60, service="web", kind=SpanKind.SERVER),
        span("call", "root", 10, 50, service="web", kind=SpanKind.CLIENT),
        span("srv", "call", 0, 30, service="api", kind=SpanKind.SERVER),
        span("q", "srv", 5, 25, service="api", kind=SpanKind.CLIENT),
    ]
    tree = build_tree(spans)
    assert window_ms(tree.windows[sid("srv")]) == (15, 45)
    assert window_ms(tree.windows[sid("q")]) == (20, 40)


def test_skewed_span_longer_than_its_parent_is_clipped_to_it() -> None:
    spans = [
        span("call", None, 10, 20, service="web", kind=SpanKind.CLIENT),
        span("srv", "call", 100, 130, service="api", kind=SpanKind.SERVER),
    ]
    tree = build_tree(spans)
    assert window_ms(tree.windows[sid("srv")]) == (10, 20)


def test_other_service_inside_its_parent_is_not_moved() -> None:
    spans = [
        span("call", None, 10, 50, service="web", kind=SpanKind.CLIENT),
        span("srv", "call", 12, 48, service="api", kind=SpanKind.SERVER),
    ]
    assert window_ms(build_tree(spans).windows[sid("srv")]) == (12, 48)


def test_another_instance_of_the_same_service_is_another_clock() -> None:
    spans = [
        span("call", None, 10, 50, kind=SpanKind.CLIENT, resource_attrs={"host.name": "h1"}),
        span("srv", "call", 0, 20, kind=SpanKind.SERVER, resource_attrs={"host.name": "h2"}),
    ]
    assert window_ms(build_tree(spans).windows[sid("srv")]) == (20, 40)


def test_same_clock_children_keep_their_real_timing() -> None:
    # Fire-and-forget work in the same process really does outlive its parent.
    spans = [span("root", None, 0, 100), span("task", "root", 80, 150)]
    assert window_ms(build_tree(spans).windows[sid("task")]) == (80, 150)


def test_messaging_consumers_run_after_their_producer() -> None:
    spans = [
        span("send", None, 0, 5, service="web", kind=SpanKind.PRODUCER),
        span("process", "send", 200, 260, service="worker", kind=SpanKind.CONSUMER),
    ]
    assert window_ms(build_tree(spans).windows[sid("process")]) == (200, 260)


def test_building_leaves_the_spans_alone() -> None:
    spans = [
        span("root", None, 0, 60, service="web"),
        span("srv", "root", -10, 30, service="api", attrs={"k": [1, 2]}),
        span("o", "gone", 5, 6),
    ]
    before = snapshot(spans)
    build_tree(spans)
    assert snapshot(spans) == before


def test_clip_squeezes_disjoint_windows_to_an_edge() -> None:
    assert clip((5, 50), (10, 40)) == (10, 40)
    assert clip((45, 60), (10, 40)) == (40, 40)
    assert clip((0, 5), (10, 40)) == (10, 10)
