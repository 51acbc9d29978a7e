"""A change of machine load is not a route's change point.

The span-metrics and regression processors in one pipeline, fed seeded spans interval by
interval on a fake clock, one service with five entry routes and no release. When the host
gets busier every route slows at once, each by its own factor (1.5-6x); the change-point
detector sees a level change on each, and none of them is the route's regression. A route
that alone rises 3x, or 6x while the others rise 2x, is still a regression.
"""

from __future__ import annotations

import itertools
import math
import random
from typing import Any

import pytest
from interval_feed import START_MS, feed
from trace_builder import span

from otel_perf.findings import Finding, Kind, Severity
from otel_perf.model import SpanKind, SpanRecord
from otel_perf.processors.regression.changes import ChangeTracker
from otel_perf.processors.regression.environment import Environment, judge

CONFIG = """
receivers: {otlp: {}}
processors:
  spanmetrics: {}
  regression: {baseline_intervals: 0}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [spanmetrics, regression]}
"""
ROUTES = {"/orders": 200.0, "/search": 40.0, "/cart": 15.0, "/items": 60.0, "/users": 25.0}
INTERVALS = 60  # before and after the change, 10 s each
REQUESTS = 4  # per route and interval


def request(rng: random.Random, n: int, at: float, route: str, ms: float) -> SpanRecord:
    return span(
        f"r{n}",
        None,
        at,
        at + ms * rng.lognormvariate(0.0, 0.15),
        name=f"GET {route}",
        service="shop",
        kind=SpanKind.SERVER,
        attrs={"http.route": route, "http.request.method": "GET"},
        trace_id=rng.randbytes(16),
    )


def run(factors: dict[str, float]) -> tuple[list[Finding], list[dict[str, Any]]]:
    """Every route at its level, then each multiplied by its factor; (findings, the change
    points in the analysis)."""
    rng = random.Random(15)
    counter = itertools.count()

    def spans_of(i: int) -> list[SpanRecord]:
        return [
            request(
                rng,
                next(counter),
                START_MS + i * 10_000 + r * 2000 + 100,
                route,
                ms * (factors.get(route, 1.0) if i >= INTERVALS else 1.0),
            )
            for r in range(REQUESTS)
            for route, ms in ROUTES.items()
        ]

    found, snapshots = feed(CONFIG, 2 * INTERVALS, spans_of)
    return found, next(iter(snapshots["regression"].values()))["change_points"]


def regressions(found: list[Finding]) -> list[Finding]:
    return [f for f in found if f.kind == Kind.REGRESSION_DETECTED]


def test_every_route_slower_at_once_is_the_environment_not_a_route() -> None:
    load = {"/orders": 6.0, "/search": 4.0, "/cart": 1.5, "/items": 2.5, "/users": 3.0}
    found, points = run(load)
    # the detector sees the change on every route, at the same time ...
    rose = {p["series"] for p in points if p["kind"] == "level" and p["after_ms"] > p["before_ms"]}
    assert rose == {f"shop GET {route}" for route in ROUTES}
    # ... and judges each against the others: the environment's, no finding
    assert all(p["environment_explained"] for p in points if p["series"] in rose)
    assert regressions(found) == []
    orders = next(p for p in points if p["series"] == "shop GET /orders")
    assert orders["environment_series"] == 4
    assert orders["environment_change"] == pytest.approx(math.sqrt(2.5 * 3.0) - 1, rel=0.1)
    assert "a change of its environment" in orders["environment_note"]


def test_one_route_alone_slower_is_still_its_regression() -> None:
    found, points = run({"/search": 3.0})
    (finding,) = regressions(found)
    assert finding.subject == "GET /search p95 change point"
    assert finding.severity == Severity.WARNING
    assert finding.attributes["environment_explained"] is False
    assert abs(finding.attributes["environment_change"]) < 0.1
    assert finding.attributes["change_beyond_environment"] == pytest.approx(2.0, rel=0.25)
    assert "other series moved" in finding.summary
    assert [p["series"] for p in points] == ["shop GET /search"]


def test_a_route_far_beyond_a_change_of_load_is_still_a_regression_relative_to_it() -> None:
    load = {route: 2.0 for route in ROUTES}
    load["/search"] = 6.0  # load 2x and its own code 3x
    found, points = run(load)
    (finding,) = regressions(found)
    assert finding.subject == "GET /search p95 change point"
    assert finding.attributes["environment_change"] == pytest.approx(1.0, rel=0.2)
    assert finding.attributes["change_beyond_environment"] == pytest.approx(2.0, rel=0.25)
    assert "beyond them" in finding.summary
    others = [p for p in points if p["series"] != "shop GET /search"]
    assert others and all(p["environment_explained"] for p in others)


def pair(before: float, after: float) -> tuple[list[float], list[float]]:
    return [before] * 10, [after] * 10


def judged(own: tuple[list[float], list[float]], others: dict[str, Any]) -> Environment:
    environment = judge(own, others)
    assert environment is not None
    return environment


def test_judge() -> None:
    others = {"a": pair(10, 20), "b": pair(10, 25), "c": pair(10, 40)}
    six = judged(pair(10, 60), others)
    assert (six.own, six.median, six.others) == pytest.approx((math.log(6), math.log(2.5), 3))
    assert six.explained  # 6x beside a median of 2.5x: 2.4x beyond it, under 2.5x
    assert not judged(pair(10, 80), others).explained  # 3.2x beyond
    steady = {"a": pair(10, 10), "b": pair(10, 10.5), "c": pair(10, 9.8)}
    assert not judged(pair(10, 30), steady).explained  # the others held
    falling = {"a": pair(10, 5), "b": pair(10, 4), "c": pair(10, 6)}
    assert not judged(pair(10, 30), falling).explained  # the others fell
    assert judged(pair(10, 4), falling).explained  # all fell: load went away
    assert judge(pair(10, 30), dict(list(others.items())[:2])) is None  # under 3 others
    assert judge(([10.0] * 3, [30.0] * 10), others) is None  # too few points of its own
    short = {**others, "d": ([10.0] * 2, [20.0] * 10)}  # too few points: not counted
    assert judged(pair(10, 60), short).others == 3


def test_a_statement_is_judged_against_the_service_s_other_statements() -> None:
    tracker = ChangeTracker(window=120, min_size=5, max_series=20)
    rng = random.Random(3)
    statements = {f"db sqlite: SELECT * FROM t{k} WHERE id = ?": 1.0 + k for k in range(4)}
    routes = {f"GET /r{k}": 20.0 + k for k in range(3)}  # steady: not the statements' control
    points: dict[str, dict[str, Any]] = {}
    for i in range(80):
        for operation, level in {**statements, **routes}.items():
            factor = 3.0 if i >= 40 and operation in statements else 1.0
            p95 = level * factor * rng.lognormvariate(0.0, 0.05)
            for point in tracker.observe("shop", operation, (i + 1) * 10 * 10**9, p95):
                points[operation] = point
    assert set(points) == set(statements)
    for operation, point in points.items():
        environment = tracker.environment(f"shop {operation}", point)
        assert environment is not None and environment.explained
        assert environment.others == 3  # the other statements, never the routes
