"""N+1 loops, concurrent repeats and serial independent calls: exact counts and savings."""

from __future__ import annotations

from trace_builder import db, http_client, ms, sid, snapshot, span

from otel_perf.model import SpanKind, SpanRecord
from otel_perf.processors.bottlenecks.patterns import (
    Pattern,
    PatternKind,
    call_key,
    consecutive_parallelizable,
    n_plus_one,
)
from otel_perf.processors.bottlenecks.tracetree import build_tree

ORDER_BY_ID = "SELECT * FROM orders WHERE id = ?"


def handler(end_ms: float = 1_000) -> SpanRecord:
    return span("root", None, 0, end_ms, name="GET /orders", service="shop", kind=SpanKind.SERVER)


def loop(count: int, each_ms: float, gap_ms: float = 1, start_ms: float = 10) -> list[SpanRecord]:
    """``count`` order lookups one after another, ``gap_ms`` apart."""
    spans = []
    for i in range(count):
        start = start_ms + i * (each_ms + gap_ms)
        spans.append(
            db(f"q{i}", "root", start, start + each_ms, f"SELECT * FROM orders WHERE id = {i}")
        )
    return spans


def find(spans: list[SpanRecord]) -> list[Pattern]:
    tree = build_tree(spans)
    return n_plus_one(tree) + consecutive_parallelizable(tree)


def test_a_ten_query_loop_is_an_n_plus_one() -> None:
    spans = [handler(), *loop(10, each_ms=10)]
    (found,) = find(spans)
    assert found == Pattern(
        kind=PatternKind.N_PLUS_ONE,
        parent_span_id=sid("root"),
        service="shop",
        operation="GET /orders",
        fingerprints=(ORDER_BY_ID,),
        count=10,
        total_ns=ms(100),
        saveable_ns=ms(90),
        span_ids=tuple(sid(f"q{i}") for i in range(10)),
    )
    assert found.fingerprint == ORDER_BY_ID and found.kind == "n_plus_one"


def test_four_queries_are_below_the_count_threshold() -> None:
    assert find([handler(), *loop(4, each_ms=50)]) == []


def test_ten_tiny_queries_are_below_the_time_threshold() -> None:
    assert find([handler(), *loop(10, each_ms=2)]) == []


def test_thresholds_can_be_lowered() -> None:
    tree = build_tree([handler(), *loop(4, each_ms=2)])
    (found,) = n_plus_one(tree, min_count=4, min_total_ns=ms(8))
    assert (found.count, found.total_ns, found.saveable_ns) == (4, ms(8), ms(6))


def test_a_gather_of_eight_identical_queries_is_a_concurrent_repeat() -> None:
    spans = [handler()]
    spans += [
        db(f"g{i}", "root", 10, 30 + i, f"SELECT * FROM orders WHERE id = {i}") for i in range(8)
    ]
    (found,) = find(spans)
    assert found.kind == PatternKind.CONCURRENT_REPEAT
    assert found.count == 8
    assert found.total_ns == ms(sum(20 + i for i in range(8)))  # 188 ms of database work
    assert found.saveable_ns == ms(188 - 27)


def test_three_different_sequential_queries_could_run_in_parallel() -> None:
    spans = [
        handler(),
        db("a", "root", 10, 90, "SELECT * FROM users WHERE id = 1"),
        db("b", "root", 90, 170, "SELECT * FROM carts WHERE user_id = 1"),
        http_client("c", "root", 170, 250, "GET", "/recommendations/1"),
    ]
    (found,) = find(spans)
    assert found.kind == PatternKind.CONSECUTIVE
    assert found.fingerprints == (
        "SELECT * FROM users WHERE id = ?",
        "SELECT * FROM carts WHERE user_id = ?",
        "GET api.internal/recommendations/{id}",
    )
    assert (found.count, found.total_ns, found.saveable_ns) == (3, ms(240), ms(160))
    assert found.span_ids == (sid("a"), sid("b"), sid("c"))


def test_a_clean_trace_has_no_patterns() -> None:
    spans = [
        handler(200),
        db("a", "root", 10, 30, "SELECT * FROM users WHERE id = 1"),
        span("render", "root", 30, 150, name="render"),
        http_client("b", "root", 150, 190, "POST", "/events"),
    ]
    assert find(spans) == []


def test_two_serial_queries_saving_too_little_are_not_reported() -> None:
    spans = [
        handler(),
        db("a", "root", 0, 80, "SELECT 1 FROM a"),
        db("b", "root", 80, 160, "SELECT 1 FROM b"),
    ]
    assert find(spans) == []
    (found,) = consecutive_parallelizable(build_tree(spans), min_saveable_ns=ms(80))
    assert found.saveable_ns == ms(80)


def test_calls_outside_a_run_do_not_make_it_save_enough() -> None:
    """Together the parent's calls could save 100 ms, but no run of them does."""
    spans = [
        handler(),
        db("a", "root", 0, 60, "SELECT 1 FROM a"),
        db("b", "root", 60, 120, "SELECT 1 FROM b"),
        span("work", "root", 120, 130, name="compute"),
        db("c", "root", 130, 170, "SELECT 1 FROM c"),
    ]
    assert consecutive_parallelizable(build_tree(spans), min_saveable_ns=ms(100)) == []
    (found,) = consecutive_parallelizable(build_tree(spans), min_saveable_ns=ms(60))
    assert found.span_ids == (sid("a"), sid("b"))


def test_other_work_between_calls_ends_a_run() -> None:
    spans = [
        handler(),
        db("a", "root", 0, 150, "SELECT 1 FROM a"),
        span("work", "root", 150, 160, name="compute"),
        db("b", "root", 160, 310, "SELECT 1 FROM b"),
    ]
    assert consecutive_parallelizable(build_tree(spans)) == []


def test_overlapping_calls_are_not_a_run() -> None:
    spans = [
        handler(),
        db("a", "root", 0, 150, "SELECT 1 FROM a"),
        db("b", "root", 100, 300, "SELECT 1 FROM b"),
    ]
    assert consecutive_parallelizable(build_tree(spans)) == []


def test_a_repeated_key_starts_a_new_run() -> None:
    spans = [
        handler(),
        db("a1", "root", 0, 150, "SELECT 1 FROM a WHERE id = 1"),
        db("b", "root", 150, 300, "SELECT 1 FROM b"),
        db("a2", "root", 300, 450, "SELECT 1 FROM a WHERE id = 2"),
        db("c", "root", 450, 600, "SELECT 1 FROM c"),
    ]
    found = consecutive_parallelizable(build_tree(spans))
    assert [p.span_ids for p in found] == [(sid("a1"), sid("b")), (sid("a2"), sid("c"))]
    assert [p.saveable_ns for p in found] == [ms(150), ms(150)]


def test_sequential_within_the_tolerance() -> None:
    spans = [handler()]
    spans += [
        db(f"q{i}", "root", i * 20 - 0.5 * i, i * 20 - 0.5 * i + 20, "SELECT 1 FROM t")
        for i in range(5)
    ]
    (found,) = n_plus_one(build_tree(spans))
    assert found.kind == PatternKind.N_PLUS_ONE


def test_mixed_overlap_is_classified_by_majority() -> None:
    # Pairs: 3 sequential, 2 overlapping -> a loop.
    starts = [0, 20, 25, 45, 65, 70]
    spans = [handler()] + [
        db(f"q{i}", "root", s, s + 15, "SELECT 1 FROM t") for i, s in enumerate(starts)
    ]
    assert n_plus_one(build_tree(spans))[0].kind == PatternKind.N_PLUS_ONE
    # Pairs: 1 sequential, 4 overlapping -> a fan-out.
    starts = [0, 5, 10, 15, 40, 45]
    spans = [handler()] + [
        db(f"q{i}", "root", s, s + 15, "SELECT 1 FROM t") for i, s in enumerate(starts)
    ]
    assert n_plus_one(build_tree(spans))[0].kind == PatternKind.CONCURRENT_REPEAT


def test_interleaved_loops_are_reported_separately_per_key() -> None:
    spans = [handler()]
    for i in range(6):
        spans.append(
            db(f"u{i}", "root", 40 * i, 40 * i + 20, f"SELECT * FROM users WHERE id = {i}")
        )
        spans.append(http_client(f"h{i}", "root", 40 * i + 20, 40 * i + 40, "GET", f"/prices/{i}"))
    found = n_plus_one(build_tree(spans))
    assert [(p.fingerprint, p.count, p.saveable_ns) for p in found] == [
        ("SELECT * FROM users WHERE id = ?", 6, ms(100)),
        ("GET api.internal/prices/{id}", 6, ms(100)),
    ]


def test_patterns_are_found_under_every_parent_not_across_parents() -> None:
    spans = [
        handler(),
        span("a", "root", 0, 500, name="load"),
        span("b", "root", 500, 900, name="save"),
    ]
    spans += [db(f"a{i}", "a", 20 * i, 20 * i + 20, "SELECT 1 FROM t") for i in range(5)]
    spans += [db(f"b{i}", "b", 500 + 20 * i, 520 + 20 * i, "SELECT 1 FROM t") for i in range(4)]
    (found,) = n_plus_one(build_tree(spans))
    assert (found.parent_span_id, found.operation, found.count) == (sid("a"), "load", 5)


def test_call_keys() -> None:
    assert (
        call_key(db("q", None, 0, 1, "select 1 from t where x = 5"))
        == "SELECT ? FROM t WHERE x = ?"
    )
    assert call_key(db("q", None, 0, 1, "select 1", old_semconv=True)) == "SELECT ?"
    redis = span("r", None, 0, 1, name="GET", kind=SpanKind.CLIENT, attrs={"db.system": "redis"})
    assert call_key(redis) == "GET"
    assert call_key(http_client("h", None, 0, 1, "GET", "/a/1")) == "GET api.internal/a/{id}"
    server = span("s", None, 0, 1, kind=SpanKind.SERVER, attrs={"db.statement": "SELECT 1"})
    assert call_key(server) is None
    assert call_key(span("i", None, 0, 1, kind=SpanKind.CLIENT)) is None


def test_detection_leaves_the_spans_alone() -> None:
    spans = [handler(), *loop(10, each_ms=10)]
    before = snapshot(spans)
    find(spans)
    assert snapshot(spans) == before
