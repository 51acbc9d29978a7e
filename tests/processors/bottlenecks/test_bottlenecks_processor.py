"""The bottlenecks processor without the network: assembly on event time, its bounds,
deduplicated findings, slow requests, checkpoint phases, memory and the snapshot."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from trace_builder import db, http_client, ms, span

from otel_perf.component import Context
from otel_perf.findings import Finding, State
from otel_perf.model import SpanBatch, SpanKind, SpanRecord
from otel_perf.processors.bottlenecks.config import BottlenecksConfig
from otel_perf.processors.bottlenecks.processor import BottlenecksProcessor
from otel_perf.store import Store

S = 1_000_000_000
LOOP = "SELECT * FROM orders WHERE id = ?"


def make(**settings: Any) -> BottlenecksProcessor:
    settings.setdefault("trace_quiet_time", 1)
    return BottlenecksProcessor(
        Context("bottlenecks", Store(":memory:")), BottlenecksConfig(**settings)
    )


def tid(n: int) -> bytes:
    return n.to_bytes(16, "big")


def in_trace(n: int, spans: Iterable[SpanRecord]) -> list[SpanRecord]:
    """The spans moved into trace ``n`` (trace_builder's db() has no trace_id argument)."""
    out = list(spans)
    for record in out:
        record.trace_id = tid(n)
    return out


def server(
    span_id: str, parent: str | None, start_ms: float, end_ms: float, route: str, **kw: Any
) -> SpanRecord:
    attrs = {"http.route": route, "http.request.method": "GET", **kw.pop("attrs", {})}
    name = f"GET {route}"
    return span(
        span_id, parent, start_ms, end_ms, name=name, kind=SpanKind.SERVER, attrs=attrs, **kw
    )


def consume(processor: BottlenecksProcessor, *spans: SpanRecord) -> None:
    processor.consume_spans(SpanBatch(list(spans)))


def n_plus_one_trace(n: int, at_ms: float, calls: int = 8) -> list[SpanRecord]:
    spans = [server("root", None, at_ms, at_ms + 200, "/orders")]
    for i in range(calls):
        start = at_ms + 10 + i * 12
        statement = f"SELECT * FROM orders WHERE id = {i + 100 * n}"
        spans.append(db(f"q{i}", "root", start, start + 10, statement))
    return in_trace(n, spans)


def evaluate_window(
    processor: BottlenecksProcessor, index: int, spans: list[SpanRecord], interval_s: int = 60
) -> list[Finding]:
    """Send ``spans`` (timed inside window ``index``), close them, then evaluate the window."""
    consume(processor, *spans)
    assert not processor.tick(index * interval_s * S + 5 * S)  # closes the trace, opens a window
    return processor.tick((index + 1) * interval_s * S)


def ranking(processor: BottlenecksProcessor) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = processor.snapshot()["ranking"]
    return rows


# -- assembly ------------------------------------------------------------------------


def test_a_trace_is_analysed_once_no_span_of_it_ended_for_the_quiet_time() -> None:
    processor = make(trace_quiet_time=10)
    consume(processor, server("root", None, 0, 100, "/a"), db("q", "root", 10, 90, "SELECT 1"))
    processor.tick(ms(100) + 10 * S - 1)
    assert (processor.snapshot()["traces_held"], processor.traces_analysed) == (1, 0)
    processor.tick(ms(100) + 10 * S)
    assert (processor.snapshot()["traces_held"], processor.traces_analysed) == (0, 1)


def test_a_trace_split_over_batches_waits_for_its_last_span_and_is_analysed_whole() -> None:
    processor = make(trace_quiet_time=10)
    # the backend reports its spans first; the frontend's root comes in a later batch
    consume(
        processor,
        server("backend", "call", 20, 80, "/inner", service="backend"),
        db("q", "backend", 30, 70, "SELECT * FROM t WHERE id = 1", service="backend"),
    )
    processor.tick(ms(80) + 10 * S - 1)  # one ns short of closing what has arrived
    consume(processor, server("root", None, 0, 3_000, "/outer", service="frontend"))
    consume(processor, http_client("call", "root", 10, 90, "GET", "/inner", service="frontend"))
    processor.tick(ms(80) + 10 * S)  # quiet for the first batch, not for the trace
    assert processor.traces_analysed == 0
    # quiet since the root ended, but the root *arrived* at the last tick: not yet
    processor.tick(ms(3_000) + 10 * S)
    assert processor.traces_analysed == 0
    processor.tick(ms(80) + 20 * S - 1)  # the quiet time after the last arrival
    assert processor.traces_analysed == 1
    window = processor.window
    assert window is not None and window.traces == 1
    assert list(window.entries) == [("frontend", "GET /outer")]  # one root, no orphans
    ranked = {(r["service"], r["operation"]): r["critical_path_ms"] for r in ranking(processor)}
    assert ranked == {  # calls are named by what they target, not by their span names
        ("frontend", "GET /outer"): 2_920.0,
        ("frontend", "GET api.internal/inner"): 20.0,
        ("backend", "GET /inner"): 20.0,
        ("backend", "postgresql SELECT * FROM t WHERE id = ?"): 40.0,
    }


def test_past_max_traces_the_oldest_trace_is_analysed_early_and_counted() -> None:
    processor = make(max_traces=2)
    consume(processor, *in_trace(1, [server("a", None, 0, 10, "/first")]))
    consume(processor, *in_trace(2, [server("b", None, 0, 5, "/second")]))
    consume(processor, *in_trace(1, [db("q", "a", 1, 9, "SELECT 1")]))  # known trace: no eviction
    assert processor.snapshot()["evicted_early"] == 0
    consume(processor, *in_trace(3, [server("c", None, 0, 20, "/third")]))
    snapshot = processor.snapshot()
    assert (snapshot["evicted_early"], snapshot["traces_held"], snapshot["traces_analysed"]) == (
        1,
        2,
        1,
    )
    assert {r["operation"] for r in snapshot["ranking"]} == {"GET /first", "postgresql SELECT ?"}
    processor.tick(10**6 * S)
    assert processor.snapshot()["traces_analysed"] == 3


def test_spans_past_max_spans_per_trace_are_counted_and_left_out() -> None:
    processor = make(max_spans_per_trace=3)
    queries = [db(f"q{i}", "root", 10 * i, 10 * i + 15, f"SELECT {i}") for i in range(1, 6)]
    consume(processor, server("root", None, 0, 100, "/a"), *queries)
    assert processor.snapshot()["dropped_spans"] == 3
    processor.tick(10**6 * S)
    (row,) = processor.snapshot()["slow_queries"]
    assert row["count"] == 2  # the first two queries made it in


def test_shutdown_analyses_what_is_still_held() -> None:
    processor = make()
    consume(processor, server("root", None, 0, 100, "/a"))
    processor.shutdown()
    assert processor.snapshot()["traces_analysed"] == 1
    assert processor.snapshot()["traces_held"] == 0


# -- findings ------------------------------------------------------------------------


def test_the_same_n_plus_one_is_announced_once_again_after_the_quiet_period_then_resolved() -> None:
    processor = make(trace_quiet_time=1, quiet_period=300, min_traces=1000)
    said: list[Finding] = []
    for index in range(6):  # evaluated at 60 s, 120 s, ..., 360 s
        at_ms = index * 60_000 + 1_000
        found = evaluate_window(processor, index, n_plus_one_trace(index, at_ms))
        said += [f for f in found if f.kind == "n_plus_one"]
    assert [(f.state, f.time_ns) for f in said] == [
        (State.OPEN, 60 * S),
        (State.UPDATED, 360 * S),  # 300 s after it was last said
    ]
    assert said[0].key == said[1].key
    assert said[0].subject == f"GET /orders: {LOOP}"
    assert said[0].attributes["max_calls"] == 8
    assert said[0].attributes["saveable_ms_per_trace"] == 70.0
    assert processor.snapshot()["suppressed_findings"] == 4

    clean = in_trace(99, [server("root", None, 6 * 60_000 + 1_000, 6 * 60_000 + 1_050, "/orders")])
    (resolved,) = [f for f in evaluate_window(processor, 6, clean) if f.kind == "n_plus_one"]
    assert (resolved.state, resolved.key, resolved.time_ns) == (
        State.RESOLVED,
        said[0].key,
        420 * S,
    )
    assert not evaluate_window(
        processor, 7, in_trace(100, [server("r", None, 421_000, 421_010, "/")])
    )


def test_an_announced_n_plus_one_is_not_announced_again_after_a_restart(tmp_path: Any) -> None:
    def on(store: Store) -> BottlenecksProcessor:
        config = BottlenecksConfig(trace_quiet_time=1, quiet_period=300, min_traces=1000)
        processor = BottlenecksProcessor(Context("bottlenecks", store), config)
        processor.start()
        return processor

    store = Store(tmp_path / "s.db")
    first = on(store)
    (opened,) = [
        f for f in evaluate_window(first, 0, n_plus_one_trace(0, 1_000)) if f.kind == "n_plus_one"
    ]
    first.flush(60 * S)
    store.close()

    store = Store(tmp_path / "s.db")
    again = on(store)
    assert not [
        f for f in evaluate_window(again, 1, n_plus_one_trace(1, 61_000)) if f.kind == "n_plus_one"
    ]
    clean = in_trace(99, [server("root", None, 121_000, 121_050, "/orders")])
    (resolved,) = [f for f in evaluate_window(again, 2, clean) if f.kind == "n_plus_one"]
    assert (resolved.state, resolved.key) == (State.RESOLVED, opened.key)
    store.close()


def test_a_slow_request_carries_its_critical_path() -> None:
    processor = make(slow_request_threshold=1)
    trace = [
        server("root", None, 0, 1_500, "/report"),
        db("q", "root", 100, 1_300, "SELECT * FROM big WHERE day = 3"),
    ]
    (finding,) = [f for f in evaluate_window(processor, 0, trace) if f.kind == "slow_request"]
    assert (finding.service, finding.subject) == ("app", "GET /report")
    assert finding.attributes == {
        "slow": 1,
        "requests": 1,
        "slow_ratio": 1.0,
        "threshold_ms": 1_000.0,
        "worst_ms": 1_500.0,
        "p95_ms": pytest.approx(1_500.0, rel=0.01),
        "traffic_share": 1.0,
        "change": "unknown",
        "critical_path": [
            {
                "service": "app",
                "operation": "postgresql SELECT * FROM big WHERE day = ?",
                "ms": 1_200.0,
                "share": 0.8,
            },
            {"service": "app", "operation": "GET /report", "ms": 300.0, "share": 0.2},
        ],
    }
    assert finding.evidence == {"trace_ids": [trace[0].trace_id.hex()]}
    (row,) = processor.snapshot()["slow_requests"]
    assert row["critical_path"] == finding.attributes["critical_path"]


def test_a_slow_nested_request_carries_its_own_critical_path_not_the_roots() -> None:
    processor = make(slow_request_thresholds={"frontend": 10, "backend": 1})
    trace = [
        server("root", None, 0, 2_000, "/page", service="frontend"),
        http_client("call", "root", 10, 1_990, "GET", "/data", service="frontend"),
        server("inner", "call", 20, 1_980, "/data", service="backend"),
        db("q", "inner", 100, 1_900, "SELECT * FROM facts", service="backend"),
    ]
    (finding,) = [f for f in evaluate_window(processor, 0, trace) if f.kind == "slow_request"]
    assert (finding.service, finding.subject) == ("backend", "GET /data")
    assert finding.attributes["worst_ms"] == 1_960.0
    assert finding.attributes["critical_path"] == [
        {
            "service": "backend",
            "operation": "postgresql SELECT * FROM facts",
            "ms": 1_800.0,
            "share": 0.9184,
        },
        {"service": "backend", "operation": "GET /data", "ms": 160.0, "share": 0.0816},
    ]


def test_checkpoint_events_become_phases_with_quantiles() -> None:
    processor = make()
    spans = []
    for n in range(1, 21):  # auth takes n ms, the query 10 * n ms
        root = server("root", None, 0, 11 * n + 5, "/checkout")
        root.events = (
            (ms(n), "auth", {}),
            (ms(n / 2), "exception", {"exception.type": "KeyError"}),  # not a checkpoint
            (ms(11 * n), "db", {}),
        )
        spans += in_trace(n, [root])
    consume(processor, *spans)
    processor.tick(10**6 * S)
    phases = {row["phase"]: row for row in processor.snapshot()["phases"]}
    assert list(phases) == ["auth→db", "db→end", "start→auth"]  # sorted
    assert {row["count"] for row in phases.values()} == {20}
    assert {(row["service"], row["route"]) for row in phases.values()} == {("app", "GET /checkout")}
    assert phases["start→auth"]["p50_ms"] == pytest.approx(10, rel=0.03)
    assert phases["start→auth"]["p95_ms"] == pytest.approx(19, rel=0.03)
    assert phases["auth→db"]["p50_ms"] == pytest.approx(100, rel=0.03)
    assert phases["auth→db"]["p95_ms"] == pytest.approx(190, rel=0.03)
    assert phases["db→end"]["p50_ms"] == phases["db→end"]["p95_ms"] == pytest.approx(5, rel=0.03)


def test_memory_attributes_become_growth_per_route() -> None:
    processor = make()
    deltas = [1_000, -500, 3_000]
    spans = [
        server("r", None, 0, 10, "/upload", attrs={"otel_perf.memory.delta_bytes": delta})
        for delta in deltas
    ]
    rss = {"otel_perf.memory.rss_start_bytes": 10_000, "otel_perf.memory.rss_end_bytes": 14_096}
    spans.append(server("r", None, 0, 10, "/report", attrs=rss))
    spans.append(server("r", None, 0, 10, "/plain"))
    consume(processor, *[in_trace(n, [s])[0] for n, s in enumerate(spans)])
    processor.tick(10**6 * S)
    rows = {row["route"]: row for row in processor.snapshot()["memory"]}
    assert set(rows) == {"GET /upload", "GET /report"}
    upload = rows["GET /upload"]
    assert (upload["requests"], upload["grew"], upload["max_delta_bytes"]) == (3, 2, 3_000)
    assert upload["mean_delta_bytes"] == 1_166.7
    assert upload["p95_growth_bytes"] == pytest.approx(3_000, rel=0.03)
    assert rows["GET /report"]["mean_delta_bytes"] == 4_096
    assert list(rows) == ["GET /report", "GET /upload"]  # most growth first


# -- snapshot ------------------------------------------------------------------------


def test_snapshot_shape_and_ranking_by_critical_path_time() -> None:
    processor = make()
    for n in (1, 2):
        consume(
            processor,
            *in_trace(
                n,
                [
                    server("root", None, 0, 100, "/page"),
                    span("cache", "root", 10, 60, name="cache.get"),  # overlapped: off the path
                    db("slow", "root", 10, 90, "SELECT * FROM b"),
                ],
            ),
        )
    processor.tick(10**6 * S)
    snapshot = processor.snapshot()
    assert ("app", "cache.get") not in {(r["service"], r["operation"]) for r in snapshot["ranking"]}
    assert set(snapshot) == {
        "traces_held",
        "traces_analysed",
        "evicted_early",
        "dropped_spans",
        "late_spans",
        "duplicate_spans",
        "suppressed_findings",
        "state_discarded",
        "overflowed",
        "ranking",
        "impact",
        "slow_queries",
        "patterns",
        "slow_requests",
        "phases",
        "memory",
    }
    assert snapshot["ranking"] == [
        {
            "service": "app",
            "operation": "postgresql SELECT * FROM b",
            "avoidable_ms": 160.0,
            "critical_path_share": 0.8,
            "critical_path_ms": 160.0,
            "self_time_ms": 160.0,
            "traces": 2,
            "exemplar_trace_ids": [tid(2).hex(), tid(1).hex()],
        },
        {
            "service": "app",
            "operation": "GET /page",
            "avoidable_ms": 0.0,  # an entry is not its own bottleneck
            "critical_path_share": 0.2,
            "critical_path_ms": 40.0,
            "self_time_ms": 40.0,
            "traces": 2,
            "exemplar_trace_ids": [tid(2).hex(), tid(1).hex()],
        },
    ]
