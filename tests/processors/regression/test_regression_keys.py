"""What regression series are about: entry operations and statements, never mixtures."""

from __future__ import annotations

import random

from trace_builder import span

from otel_perf.component import Context
from otel_perf.findings import Finding, Kind
from otel_perf.histogram import ExponentialHistogram
from otel_perf.model import SpanBatch, SpanKind, SpanRecord
from otel_perf.processors.regression.config import RegressionConfig
from otel_perf.processors.regression.keys import operation_key
from otel_perf.processors.regression.processor import RegressionProcessor
from otel_perf.series import RED, SeriesHub, SeriesInterval, SeriesKey
from otel_perf.store import Store

NS = 1_000_000_000
DB = "SELECT /srv/shop.db"  # what the sqlite instrumentation names every query
LINES = "SELECT * FROM order_lines WHERE order_id = {}"
SEARCH = "SELECT * FROM products WHERE name LIKE '%{}%'"


def make(hub: SeriesHub, **settings: object) -> RegressionProcessor:
    context = Context("regression", Store(":memory:"), hub)
    processor = RegressionProcessor(context, RegressionConfig.model_validate(settings))
    processor.start()
    return processor


def query(i: int, start_ms: float, ms: float, statement: str, version: str) -> SpanRecord:
    return span(
        i,
        None,
        start_ms,
        start_ms + ms,
        name=DB,
        service="shop",
        kind=SpanKind.CLIENT,
        attrs={"db.system": "sqlite", "db.statement": statement},
        resource_attrs={"service.version": version},
    )


def test_operation_keys() -> None:
    route = {"http.route": "/items/{item_id}", "http.request.method": "GET"}
    server = span(1, None, 0, 5, name="GET /items/{item_id}", kind=SpanKind.SERVER, attrs=route)
    assert operation_key(server) == "GET /items/{item_id}"
    raw = span(2, None, 0, 5, name="GET /users/7", kind=SpanKind.SERVER)
    assert operation_key(raw) == "GET /users/{id}"
    send = span(3, 1, 0, 1, name="GET /items/3 http send", kind=SpanKind.INTERNAL)
    assert operation_key(send) is None
    assert operation_key(span(4, 1, 0, 1, name="GET /items/3 http receive", kind=1)) is None
    consumer = span(5, None, 0, 5, name="orders process", kind=SpanKind.CONSUMER)
    assert operation_key(consumer) == "orders process"
    q = query(6, 0, 1, LINES.format(42), "1")
    assert operation_key(q) == "db sqlite: SELECT * FROM order_lines WHERE order_id = ?"
    http_client = span(7, 1, 0, 1, name="GET", kind=SpanKind.CLIENT)
    assert operation_key(http_client) is None


def test_a_shift_in_the_mix_under_one_span_name_is_not_a_regression_of_a_query() -> None:
    hub = SeriesHub()
    p = make(hub, version_window=100, baseline_intervals=0)
    rng = random.Random(1)
    spans, i = [], 0
    for n in range(100):  # 1.0: an N+1 of fast lookups and a few slow searches
        for _ in range(5):
            spans.append(query(i, n * 100.0, rng.uniform(0.5, 1.5), LINES.format(n), "1.0"))
            i += 1
        spans.append(query(i, n * 100.0, rng.uniform(40, 60), SEARCH.format(n), "1.0"))
        i += 1
    for n in range(100):  # 2.0: the N+1 is gone; the search is as fast as before
        start = 1e6 + n * 100.0
        spans.append(query(i, start, rng.uniform(40, 60), SEARCH.format(n), "2.0"))
        i += 1
    p.consume_spans(SpanBatch(spans))
    found = p.tick(2 * NS) + p.finish(3 * NS)
    assert [f for f in found if f.kind == Kind.REGRESSION_DETECTED] == []
    outcomes = {c["operation"]: c["outcome"] for c in p.service.analysis()["version_comparisons"]}
    search = "db sqlite: SELECT * FROM products WHERE name LIKE ?"
    assert outcomes[search] == "pass"
    assert all(DB not in key for key in outcomes)  # never the mixture


def interval(end_s: int, values: dict[SeriesKey, float], seed: int) -> SeriesInterval:
    rng = random.Random(seed)
    reds = {}
    for key, p95_ms in values.items():
        hist = ExponentialHistogram()
        for _ in range(50):
            hist.record(p95_ms / 1000 * rng.lognormvariate(-0.33, 0.2))
        reds[key] = RED(calls=50, errors=0, duration_s=hist)
    return SeriesInterval((end_s - 10) * NS, end_s * NS, 10, reds)


def changes(found: list[Finding]) -> list[Finding]:
    return [f for f in found if f.subject.endswith("p95 change point")]


def test_change_points_run_on_entry_operations_not_on_mixtures_or_framework_spans() -> None:
    hub = SeriesHub()
    p = make(hub, baseline_intervals=0)
    mixture = SeriesKey("shop", DB, SpanKind.CLIENT)
    send = SeriesKey("pricing", "POST /quote http receive", SpanKind.INTERNAL)
    route = SeriesKey("shop", "GET /cart", SpanKind.SERVER)
    for n in range(80):
        jump = n >= 40
        levels = {mixture: 1480.0 if jump else 1.6, send: 3.0 if jump else 0.3, route: 50.0}
        hub.publish(interval(10 * (n + 1), levels, n))
    assert changes(p.tick(1)) == []


def test_a_statement_that_got_slower_is_a_level_change_naming_the_release() -> None:
    hub = SeriesHub()
    p = make(hub, baseline_intervals=0, version_window=10_000)
    rng = random.Random(2)
    statement = "db sqlite: SELECT * FROM products WHERE name LIKE ?"
    found: list[Finding] = []
    for n in range(80):  # one 10-s interval each; release 2.0 at the 40th
        version, ms = ("1.0", 20.0) if n < 40 else ("2.0", 60.0)
        start = n * 10_000.0 + 1_000
        durations = [ms * rng.uniform(0.8, 1.2) for _ in range(20)]
        batch = [
            query(n * 100 + k, start + k * 50, d, SEARCH.format(k), version)
            for k, d in enumerate(durations)
        ]
        p.consume_spans(SpanBatch(batch))
        hub.publish(SeriesInterval(n * 10 * NS, (n + 1) * 10 * NS, 10, {}))
        found += changes(p.tick((n + 1) * 10 * NS))
    (finding,) = found
    assert finding.kind == Kind.REGRESSION_DETECTED and finding.service == "shop"
    attrs = finding.attributes
    assert attrs["operation"] == statement and attrs["kind"] == "level"
    assert 18 < attrs["before_ms"] < 26 and 55 < attrs["after_ms"] < 75
    assert attrs["time_low_s"] <= 410 <= attrs["time_high_s"]
    assert (attrs["release_old_version"], attrs["release_new_version"]) == ("1.0", "2.0")
    assert "coincides with release 1.0 -> 2.0" in finding.summary
    assert "p95 level changed from" in finding.summary
    assert attrs["delay_points"] >= 10
