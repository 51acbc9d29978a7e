"""A change of how a statement is called is not a regression of the query.

The regression and span-metrics processors in one pipeline, fed seeded traces interval by
interval on a fake clock. Version 1.0 of ``GET /orders`` lazy-loads its order lines: 25
small executions of one statement per request. Version 2.0 loads them eagerly: the same
fingerprint once per request, slower per execution (it fetches all 25 rows), and the route
gets faster. The statement's p95 rises; no query got slower per unit of work.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable
from typing import Any

import pytest
from interval_feed import START_MS, feed
from trace_builder import db, span

from otel_perf.findings import Finding, Kind, Severity
from otel_perf.model import SpanKind, SpanRecord
from otel_perf.processors.regression.saved import SavedUsage
from otel_perf.processors.regression.usage import (
    Usage,
    VersionUsage,
    call_change,
    usage_around,
)
from otel_perf.recommend.ranking import Inputs, recommend

LINES = "SELECT * FROM order_lines WHERE order_id = {}"
STATEMENT = "db sqlite: SELECT * FROM order_lines WHERE order_id = ?"
CONFIG = """
receivers: {otlp: {}}
processors:
  spanmetrics: {}
  regression: {baseline_intervals: 0, version_window: 100000}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [spanmetrics, regression]}
"""
INTERVALS = 60  # per version, 10 s each
REQUESTS = 10  # per interval

#: one request's spans from (rng, request number, start ms)
Request = Callable[[random.Random, int, float], list[SpanRecord]]


def request(
    rng: random.Random, n: int, at: float, route_ms: float, queries: list[float], version: str
) -> list[SpanRecord]:
    trace, root = rng.randbytes(16), f"r{n}"
    spans = [
        span(
            root,
            None,
            at,
            at + route_ms,
            name="GET /orders",
            service="shop",
            kind=SpanKind.SERVER,
            attrs={"http.route": "/orders", "http.request.method": "GET"},
            trace_id=trace,
            resource_attrs={"service.version": version},
        )
    ]
    offset = 1.0
    for q, ms in enumerate(queries):
        query = db(
            f"{root}.{q}",
            root,
            at + offset,
            at + offset + ms,
            LINES.format(n),
            system="sqlite",
            service="shop",
        )
        query.trace_id = trace
        query.resource = spans[0].resource
        spans.append(query)
        offset += ms
    return spans


def run(old: Request, new: Request) -> tuple[list[Finding], dict[str, Any], list[dict[str, Any]]]:
    """Both versions through the pipeline; (findings, the regression analysis, the
    recommendations at the end)."""
    rng = random.Random(15)
    counter = itertools.count()

    def spans_of(i: int) -> list[SpanRecord]:
        make = old if i < INTERVALS else new
        return [
            s
            for r in range(REQUESTS)
            for s in make(rng, next(counter), START_MS + i * 10_000 + r * 1000 + 100)
        ]

    found, snapshots = feed(CONFIG, 2 * INTERVALS, spans_of)
    analysis = next(iter(snapshots["regression"].values()))
    return found, analysis, recommend(Inputs(snapshots, found))


def lazy(rng: random.Random, n: int, at: float) -> list[SpanRecord]:
    """1.0: 25 lookups of about 1.5 ms (p95 about 2 ms) on a 60-ms route."""
    queries = [rng.lognormvariate(0.4, 0.2) for _ in range(25)]
    return request(rng, n, at, 20 + sum(queries), queries, "1.0")


def eager(rng: random.Random, n: int, at: float) -> list[SpanRecord]:
    """2.0: the same statement once, about 8 ms; the route about 30 ms."""
    query = rng.lognormvariate(2.1, 0.15)
    return request(rng, n, at, 20 + query, [query], "2.0")


def statement_changes(found: list[Finding]) -> list[Finding]:
    return [f for f in found if f.subject == f"{STATEMENT} p95 change point"]


def test_a_fixed_n_plus_one_is_a_change_of_how_the_statement_is_called() -> None:
    found, analysis, items = run(lazy, eager)
    (point,) = [p for p in analysis["change_points"] if p["series"] == f"shop {STATEMENT}"]
    assert point["after_ms"] > 2 * point["before_ms"]  # the p95 rose: the detector saw it
    assert point["executions_per_trace_before"] == pytest.approx(25)
    assert point["executions_per_trace_after"] == pytest.approx(1)
    assert point["time_ms_per_min_after"] < point["time_ms_per_min_before"] / 3
    assert "executions per trace 25 -> 1" in point["call_change"]
    # no finding: not a regression of the query (the route's own series tells the gain)
    assert statement_changes(found) == []
    assert not [f for f in found if STATEMENT in f.subject]
    assert not [f for f in found if f.kind == Kind.REGRESSION_DETECTED]
    assert not [i for i in items if STATEMENT in i["subject"]]
    # its version comparison says the same, in the analysis
    (comparison,) = [c for c in analysis["version_comparisons"] if c["operation"] == STATEMENT]
    assert comparison["outcome"] == "regression"  # what the rank test alone says
    assert comparison["executions_per_request_before"] == pytest.approx(25)
    assert comparison["executions_per_request_after"] == pytest.approx(1)
    assert "executions per request 25 -> 1" in comparison["call_change"]


def slower(rng: random.Random, n: int, at: float) -> list[SpanRecord]:
    """2.0 of a statement that got slower: the same 3 executions per request, 3x as long."""
    queries = [3 * rng.lognormvariate(0.4, 0.2) for _ in range(3)]
    return request(rng, n, at, 20 + sum(queries), queries, "2.0")


def steady(rng: random.Random, n: int, at: float) -> list[SpanRecord]:
    queries = [rng.lognormvariate(0.4, 0.2) for _ in range(3)]
    return request(rng, n, at, 20 + sum(queries), queries, "1.0")


def test_a_statement_slower_at_the_same_call_rate_is_still_a_regression() -> None:
    found, analysis, items = run(steady, slower)
    (finding,) = statement_changes(found)
    assert finding.kind == Kind.REGRESSION_DETECTED and finding.severity == Severity.WARNING
    assert "call_change" not in finding.attributes
    assert finding.attributes["executions_per_trace_after"] == pytest.approx(3)
    # ranked by the executions after the change: 3 per request, 1 request a second
    (item,) = [i for i in items if i["subject"] == finding.subject]
    per_min = item["evidence"]["figures"]["executions_per_min"]
    assert per_min == pytest.approx(180)
    shift = finding.attributes["after_ms"] - finding.attributes["before_ms"]
    assert item["impact"]["value"] == pytest.approx(shift * per_min)


def test_call_change() -> None:
    n_plus_one = [Usage(250, 10, 375.0, 10.0)] * 4
    eager_load = [Usage(10, 10, 80.0, 10.0)] * 4
    figures = usage_around(n_plus_one, eager_load)
    assert figures["calls_per_s_after"] == 1.0 and figures["time_ms_per_min_before"] == 2250
    assert call_change(figures) == (
        "executions per trace 25 -> 1, its time per minute fell 2.25 -> 0.48 s"
    )
    more_traffic = usage_around(eager_load, [Usage(20, 20, 400.0, 10.0)])
    assert call_change(more_traffic) is None  # 1 per trace, costing more: not a call change
    route = usage_around([Usage(10, 0, 500.0, 10.0)], [Usage(2, 0, 200.0, 10.0)])
    assert call_change(route) is None  # traces not counted (an entry operation): not judged


def test_version_usage_is_bounded_and_round_trips() -> None:
    usage = VersionUsage(max_series=2)
    for _ in range(4):
        usage.request("shop", "1.0")
    usage.request("shop", "2.0")
    usage.request("shop", "3.0")  # a third (service, version): over max_series
    for _ in range(100):
        usage.execution("shop", "1.0", STATEMENT, 1.5)
    usage.execution("shop", "2.0", STATEMENT, 9.0)
    usage.execution("shop", "2.0", "db sqlite: SELECT 1", 1.0)  # over max_series
    assert usage.untracked == 2
    again = VersionUsage(max_series=2)
    again.resume(SavedUsage.model_validate(json.loads(usage.saved().model_dump_json())))
    figures = again.call_change("shop", STATEMENT, "1.0", "2.0")
    assert figures == {
        "executions_per_request_before": 25.0,
        "executions_per_request_after": 1.0,
        "time_ms_per_request_before": 37.5,
        "time_ms_per_request_after": 9.0,
        "call_change": "executions per request 25 -> 1, its time per request fell 37.5 -> 9 ms",
    }
