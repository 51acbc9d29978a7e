"""Change points rank by users' time: a level shift on an entry operation weighs
(after - before) x its requests per minute, one on a statement fingerprint its extra
database time per minute on the routes that run it, in the same unit (ms per minute) as
the rest of the list, with the formula in the item's reasons."""

from __future__ import annotations

import random
from typing import Any

import pytest
from trace_builder import db, span

from otel_perf.component import component_type
from otel_perf.config import load_config
from otel_perf.findings import Finding
from otel_perf.model import SpanBatch, SpanKind, SpanRecord
from otel_perf.pipeline import Pipeline
from otel_perf.processors.regression.findings import change_finding
from otel_perf.processors.regression.keys import operation_key
from otel_perf.recommend.ranking import Inputs, recommend
from otel_perf.store import Store

S = 1_000_000_000
START_MS = 1_700_000_000_000.0
SEARCH_SQL = "SELECT * FROM products WHERE name LIKE '%oak%' ORDER BY price DESC"
CONFIG = """
receivers: {otlp: {}}
processors: {spanmetrics: {}}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [spanmetrics]}
"""


def traffic() -> list[SpanRecord]:
    """A minute of ``shop``: GET /search 4 times a second, each running the search query
    twice; GET /admin/report once every 10 s."""
    rng = random.Random(15)
    spans: list[SpanRecord] = []
    for i in range(240):
        at, trace = START_MS + i * 250, rng.randbytes(16)
        route = {"http.route": "/search", "http.request.method": "GET"}
        spans.append(
            span(
                f"s{i}",
                None,
                at,
                at + 90,
                name="GET /search",
                service="shop",
                kind=SpanKind.SERVER,
                attrs=route,
                trace_id=trace,
            )
        )
        for q in range(2):
            query = db(
                f"q{i}.{q}",
                f"s{i}",
                at + 5 + 40 * q,
                at + 40 + 40 * q,
                SEARCH_SQL,
                system="sqlite",
                service="shop",
            )
            query.trace_id = trace
            spans.append(query)
    for i in range(6):
        at = START_MS + i * 10_000
        spans.append(
            span(
                f"a{i}",
                None,
                at,
                at + 900,
                name="GET /admin/report",
                service="shop",
                kind=SpanKind.SERVER,
                trace_id=rng.randbytes(16),
                attrs={"http.route": "/admin/report", "http.request.method": "GET"},
            )
        )
    return spans


@pytest.fixture(scope="module")
def snapshots() -> dict[str, dict[str, dict[str, Any]]]:
    """The span metrics' snapshot after that minute, as the API hands it to recommend()."""
    pipe = Pipeline(load_config(text=CONFIG), Store(":memory:"), clock=lambda: 1)
    pipe.start(worker=False)
    try:
        pipe.process(SpanBatch(traffic()))
        pipe.tick(int(START_MS * 1_000_000) + 70 * S)
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for pid, snap in pipe.snapshot().items():
            out.setdefault(component_type(pid), {})[pid] = snap
        return out
    finally:
        pipe.shutdown()


def change(operation: str, before_ms: float, after_ms: float) -> Finding:
    """What the regression processor says about a level shift of ``operation``'s p95."""
    point = {"kind": "level", "before_ms": before_ms, "after_ms": after_ms, "time_s": 1.7e9}
    finding = change_finding("shop", operation, point, 10**18, "regression")
    assert finding is not None
    return finding


def rate_per_min(snapshots: dict[str, Any], operation: str) -> float:
    rows = next(iter(snapshots["spanmetrics"].values()))["red"]
    return float(sum(r["rate_per_s"] for r in rows if r["operation"] == operation) * 60)


def test_change_points_weigh_their_shift_times_their_calls_per_minute(
    snapshots: dict[str, dict[str, dict[str, Any]]],
) -> None:
    statement = operation_key(traffic()[1])
    assert statement is not None and statement.startswith("db sqlite: SELECT")
    findings = [
        change("GET /search", 90, 180),  # +90 ms on 240 requests a minute: 21.6 s
        change(statement, 35, 70),  # +35 ms on 480 executions a minute: 16.8 s
        change("GET /admin/report", 900, 2700),  # +200 %, but 6 requests a minute: 10.8 s
    ]
    items = {i["subject"].split(" p95")[0]: i for i in recommend(Inputs(snapshots, findings))}
    search, query, report = items["GET /search"], items[statement], items["GET /admin/report"]
    searches = rate_per_min(snapshots, "GET /search")
    executions = rate_per_min(snapshots, "sqlite " + statement.split(": ", 1)[1])
    assert searches == pytest.approx(240, rel=0.1) and executions == pytest.approx(2 * searches)
    for item, shift, per_min in ((search, 90, searches), (query, 35, executions)):
        assert item["impact"]["kind"] == "latency_ms_per_min"
        assert item["impact"]["value"] == pytest.approx(shift * per_min, rel=1e-3)
        (note,) = item["ranking"]["notes"]
        assert "p95 shift" in note and "per minute" in note, note
    assert "database time on the routes that run it" in query["impact"]["text"]
    assert "users' time" in search["impact"]["text"]
    assert report["impact"]["value"] == pytest.approx(1800 * 6, rel=0.1)
    # by users' time: the search first, the rare report's +200 % (first by relative change) last
    ranked = [i["subject"] for i in recommend(Inputs(snapshots, findings))]
    assert ranked == [search["subject"], query["subject"], report["subject"]]


def test_a_trend_that_turned_says_so_and_costs_what_its_level_moved(
    snapshots: dict[str, dict[str, dict[str, Any]]],
) -> None:
    point = {
        "kind": "slope",
        "before_ms": 90.0,
        "after_ms": 88.0,
        "slope_before_ms_per_min": -0.5,
        "slope_after_ms_per_min": 2.0,
    }
    finding = change_finding("shop", "GET /search", point, 10**18, "regression")
    assert finding is not None
    (item,) = recommend(Inputs(snapshots, [finding]))
    assert "p95 trend turned from -0.5 to +2 ms/min" in item["action"]
    assert item["impact"]["value"] == 0.0  # its level did not rise at the change


def test_without_traffic_figures_a_change_point_falls_back_to_its_relative_change() -> None:
    (item,) = recommend(Inputs({}, [change("GET /search", 100, 150)]))
    assert item["impact"]["kind"] == "relative_latency"
    assert item["impact"]["value"] == pytest.approx(0.5)
    assert "traffic is unknown" in item["ranking"]["notes"][0]


def test_a_change_point_weighs_the_calls_after_the_change_not_the_last_minute(
    snapshots: dict[str, dict[str, dict[str, Any]]],
) -> None:
    """The last minute of span metrics may still hold the old traffic: 480 executions a
    minute of the statement there, but 1 a second since the change — that is what counts."""
    statement = operation_key(traffic()[1])
    assert statement is not None
    point = {"kind": "level", "before_ms": 35.0, "after_ms": 70.0, "calls_per_s_after": 1.0}
    finding = change_finding("shop", statement, point, 10**18, "regression")
    assert finding is not None
    (item,) = recommend(Inputs(snapshots, [finding]))
    assert rate_per_min(snapshots, "sqlite " + statement.split(": ", 1)[1]) > 400
    assert item["impact"]["value"] == pytest.approx(35 * 60)
    assert item["evidence"]["figures"]["executions_per_min"] == 60
    (note,) = item["ranking"]["notes"]
    assert "(the intervals after the change)" in note, note
