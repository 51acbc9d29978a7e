"""What makes a bottleneck finding worth a human's attention: operations people mean,
complete traces, no self-reference, floors, baselines, audience, hysteresis, evidence
from the subject, savings in their unit and advice that matches the cause."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from trace_builder import db, ms, span

from otel_perf.component import Context
from otel_perf.findings import Finding, Severity, State
from otel_perf.model import SpanBatch, SpanKind, SpanRecord
from otel_perf.processors.bottlenecks.advice import advise
from otel_perf.processors.bottlenecks.config import BottlenecksConfig
from otel_perf.processors.bottlenecks.judge import share_low
from otel_perf.processors.bottlenecks.processor import BottlenecksProcessor
from otel_perf.store import Store

S = 1_000_000_000
MIN = 60_000  # ms


def make(**settings: Any) -> BottlenecksProcessor:
    settings.setdefault("trace_quiet_time", 1)
    settings.setdefault("min_traces", 5)
    settings.setdefault("baseline_windows", 1)
    return BottlenecksProcessor(
        Context("bottlenecks", Store(":memory:")), BottlenecksConfig(**settings)
    )


def server(sid: str, parent: str | None, start: float, end: float, route: str) -> SpanRecord:
    attrs = {"http.route": route, "http.request.method": "GET"}
    return span(sid, parent, start, end, name=f"GET {route}", kind=SpanKind.SERVER, attrs=attrs)


def traced(n: int, spans: list[SpanRecord]) -> list[SpanRecord]:
    for record in spans:
        record.trace_id = n.to_bytes(16, "big")
    return spans


def request(
    n: int, at: float, route: str, query_ms: float, other_ms: float = 10
) -> list[SpanRecord]:
    """One request to ``route``: its own work, then one query of ``query_ms``."""
    end = at + other_ms + query_ms
    sql = f"SELECT * FROM {route.strip('/')} WHERE owner = {n}"
    return traced(n, [server("r", None, at, end, route), db("q", "r", at + other_ms, end, sql)])


def window(
    processor: BottlenecksProcessor, index: int, mix: list[tuple[str, float, int]]
) -> list[Finding]:
    """Send ``mix`` ((route, query ms, requests) ...) inside window ``index``; evaluate it."""
    spans: list[SpanRecord] = []
    n = index * 10_000
    for route, query_ms, count in mix:
        for _ in range(count):
            n += 1
            spans += request(n, index * MIN + 1_000 + n % 997, route, query_ms)
    processor.consume_spans(SpanBatch(spans))
    processor.tick(index * MIN * 1_000_000 + 5 * S)
    return processor.tick((index + 1) * MIN * 1_000_000)


def warnings(found: list[Finding]) -> list[Finding]:
    return [f for f in found if f.severity != Severity.INFO and f.state != State.RESOLVED]


# -- operations ----------------------------------------------------------------------


def test_asgi_send_and_receive_fold_into_their_parent_and_never_become_operations() -> None:
    processor = make()
    spans = [server("r", None, 0, 100, "/items/{id}")]
    for i, what in enumerate(("receive", "send", "send")):
        spans.append(span(f"i{i}", "r", 20 * i, 20 * i + 15, name=f"GET /items/3 http {what}"))
    spans.append(span("child", "i1", 21, 30, name="serialise"))  # hangs from the root now
    processor.consume_spans(SpanBatch(spans))
    processor.tick(10**6 * S)
    rows = {r["operation"]: r for r in processor.snapshot()["ranking"]}
    assert set(rows) == {"GET /items/{id}", "serialise"}
    assert rows["GET /items/{id}"]["self_time_ms"] == 91.0  # 100 ms less the 9-ms child


def test_an_entry_is_never_its_own_bottleneck() -> None:
    processor = make()
    health = [traced(n, [server("r", None, n, n + 700, "/health")]) for n in range(20)]
    processor.consume_spans(SpanBatch([s for t in health for s in t]))
    processor.tick(10 * S)
    found = processor.tick(MIN * 1_000_000)
    assert not [f for f in found if f.kind == "bottleneck_identified"]
    assert processor.snapshot()["ranking"][0]["avoidable_ms"] == 0.0


# -- complete traces -----------------------------------------------------------------


def test_a_late_span_for_an_analysed_trace_is_counted_never_a_second_root() -> None:
    processor = make()
    processor.consume_spans(SpanBatch(request(1, 0, "/a", 50)))
    processor.tick(ms(60) + 1 * S)
    assert processor.traces_analysed == 1
    late = traced(1, [span("late", "r", 10, 20, name="cache.get")])
    processor.consume_spans(SpanBatch(late))
    processor.tick(ms(60) + 10 * S)
    snapshot = processor.snapshot()
    assert (processor.traces_analysed, snapshot["late_spans"]) == (1, 1)
    assert "cache.get" not in {r["operation"] for r in snapshot["ranking"]}


def test_a_retried_export_is_not_news_and_its_spans_are_kept_once() -> None:
    processor = make(trace_quiet_time=10)
    spans = request(1, 0, "/a", 50)
    processor.consume_spans(SpanBatch(spans))
    processor.tick(5 * S)
    processor.consume_spans(SpanBatch(request(1, 0, "/a", 50)))  # the same batch again
    processor.tick(ms(60) + 10 * S)  # quiet since the first arrival: the copy is no news
    snapshot = processor.snapshot()
    assert (processor.traces_analysed, snapshot["duplicate_spans"]) == (1, 2)
    (row,) = [r for r in snapshot["ranking"] if r["operation"] == "GET /a"]
    assert row["traces"] == 1 and row["self_time_ms"] == 10.0


def test_a_trace_still_receiving_spans_is_analysed_after_max_trace_wait() -> None:
    processor = make(trace_quiet_time=10, max_trace_wait=30)
    for second in range(0, 40, 5):  # a span every 5 s: never quiet for 10 s
        processor.tick(second * S)
        processor.consume_spans(
            SpanBatch(traced(1, [span(f"s{second}", None, second * 1000, second * 1000 + 1)]))
        )
    assert processor.traces_analysed == 1  # analysed at 30 s; the later spans are late
    assert processor.snapshot()["late_spans"] == 1


# -- expected is not a finding ---------------------------------------------------------


HOT, RARE = ("/orders", 5, 80), ("/admin/export", 2_000, 2)


def test_an_always_slow_rare_route_is_expected_and_a_regressed_hot_query_is_the_finding() -> None:
    processor = make()
    said: list[Finding] = []
    for index in range(3):  # history: the export was always slow, the orders query 5 ms
        found = window(processor, index, [HOT, RARE])
        assert not warnings(found), [f.summary for f in warnings(found)]
        said += found
    found = window(processor, 3, [("/orders", 60, 80), RARE])  # the orders query is 12x slower
    said += found
    (query,) = [f for f in warnings(found) if f.kind == "slow_query"]
    assert query.attributes["change"] == "regressed"
    assert query.attributes["routes"] == [{"service": "app", "route": "GET /orders", "share": 1.0}]
    assert query.attributes["saveable_ms_per_request"] >= 50
    assert query.attributes["share_of_route_latency"] > 0.8  # the route is mostly this query
    bottleneck = [f for f in warnings(found) if f.kind == "bottleneck_identified"]
    assert [f.attributes["entry_operation"] for f in bottleneck] == ["GET /orders"]
    top = processor.snapshot()["ranking"][0]
    assert top["operation"] == "postgresql SELECT * FROM orders WHERE owner = ?"
    exports = [f for f in said if "export" in f.subject]
    assert exports and all(f.severity == Severity.INFO for f in exports)


def test_evidence_of_a_bottleneck_comes_from_its_own_route() -> None:
    processor = make()
    found = window(processor, 0, [("/a", 900, 10), ("/b", 900, 10)])
    by_route = {
        f.attributes["entry_operation"]: set(f.evidence["trace_ids"])
        for f in found
        if f.kind == "bottleneck_identified"
    }
    assert set(by_route) == {"GET /a", "GET /b"}
    assert by_route["GET /a"].isdisjoint(by_route["GET /b"])


def loop(n: int, at: float, total_ms: float) -> list[SpanRecord]:
    """A request to /orders running 8 lookups in a row, ``total_ms`` in all (an N+1)."""
    spans = [server("r", None, at, at + total_ms + 20, "/orders")]
    for i in range(8):
        start = at + 10 + i * total_ms / 8
        spans.append(db(f"q{i}", "r", start, start + total_ms / 8, f"SELECT * FROM o WHERE id={i}"))
    return traced(n, spans)


def test_a_finding_near_its_floor_does_not_flap() -> None:
    # 60 ms opens (over the 50-ms floor); 45 ms keeps it open (above 0.7 x 50); 30 ms resolves
    processor = make()
    states: list[tuple[int, State, Severity]] = []
    for index, total_ms in enumerate((60, 45, 55, 45, 30)):
        spans = [s for n in range(10) for s in loop(index * 100 + n, index * MIN + 1_000, total_ms)]
        processor.consume_spans(SpanBatch(spans))
        processor.tick(index * MIN * 1_000_000 + 5 * S)
        found = processor.tick((index + 1) * MIN * 1_000_000)
        states += [(index, f.state, f.severity) for f in found if f.kind == "n_plus_one"]
    opened_or_resolved = [s for s in states if s[1] != State.UPDATED]  # updates: its size moved
    assert opened_or_resolved == [
        (0, State.OPEN, Severity.WARNING),
        (4, State.RESOLVED, Severity.WARNING),
    ]
    fresh = make()  # 45 ms never opens one
    fresh.consume_spans(SpanBatch([s for n in range(10) for s in loop(n, 1_000, 45)]))
    fresh.tick(5 * S)
    assert not [f for f in fresh.tick(MIN * 1_000_000) if f.kind == "n_plus_one"]


# -- savings and advice ------------------------------------------------------------------


def test_concurrent_repeats_save_database_time_not_latency() -> None:
    processor = make(min_traces=1)
    spans = [server("r", None, 0, 100, "/dash")]
    for i in range(8):  # eight identical queries at once
        spans.append(db(f"q{i}", "r", 10, 70 + i, f"SELECT * FROM w WHERE id = {i}"))
    processor.consume_spans(SpanBatch(spans))
    processor.tick(10 * S)
    (finding,) = [f for f in processor.tick(MIN * 1_000_000) if f.kind == "n_plus_one"]
    assert finding.attributes["pattern"] == "concurrent_repeat"
    assert finding.attributes["saving_unit"] == "db_time"
    assert finding.attributes["saveable_ms_per_trace"] == 0.0  # no latency to gain
    assert finding.attributes["saveable_db_time_ms_per_trace"] == 7 * 60 + sum(range(7))
    assert "database time" in finding.summary and "not latency" in finding.summary


def test_advice_matches_the_cause() -> None:
    assert advise("SELECT * FROM users WHERE lower(email) = ?")[0] == "function_in_predicate"
    assert advise("SELECT * FROM users WHERE email = ?")[0] == "missing_index"
    assert advise("SELECT * FROM events ORDER BY ts DESC")[0] == "unbounded_select"
    like = "SELECT * FROM items WHERE name LIKE ?"
    assert advise(like, "SELECT * FROM items WHERE name LIKE '%shoe'")[0] == "leading_wildcard"
    assert advise("SELECT * FROM t WHERE id IN (?) AND x = ?")[0] == "missing_index"


def test_baselines_survive_a_restart(tmp_path: Path) -> None:
    def on(store: Store) -> BottlenecksProcessor:
        config = BottlenecksConfig(trace_quiet_time=1, min_traces=5, baseline_windows=1)
        processor = BottlenecksProcessor(Context("bottlenecks", store), config)
        processor.start()
        return processor

    store = Store(tmp_path / "s.db")
    first = on(store)
    window(first, 0, [HOT])  # the orders query takes 5 ms
    first.flush(MIN * 1_000_000)
    store.close()

    store = Store(tmp_path / "s.db")
    again = on(store)
    found = window(again, 1, [("/orders", 60, 80)])
    (query,) = [f for f in found if f.kind == "slow_query"]
    assert (query.severity, query.attributes["change"]) == (Severity.WARNING, "regressed")
    assert query.attributes["baseline_ms"] == pytest.approx(5, rel=0.02)
    store.close()


def test_a_rare_route_with_a_lucky_window_is_still_rare() -> None:
    # 10 of 160 requests (6 %) in one window: the interval's low end is below 5 %
    assert share_low(10, 160) < 0.05 < share_low(30, 160)
    assert share_low(0, 160) == share_low(5, 0) == 0.0
    assert share_low(20, 20) > 0.8
