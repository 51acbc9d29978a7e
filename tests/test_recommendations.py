"""Recommendations: one pipeline fed the shop's N+1 scenario, failing requests that burn an
SLO, a slower new version and a repeated expensive query; every source shows up in
``GET /performance/recommendations`` with its evidence and finding, ranked as documented,
filtered and bounded; bad parameters are 400s; the CLI prints the same list."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import scenarios
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from test_api import client
from trace_builder import span

from otel_perf.config import load_config
from otel_perf.decode import SPAN_ATTRIBUTE_KEYS, Decoder, Limits, message_to_json
from otel_perf.findings import Finding, Kind, Severity, State
from otel_perf.model import SpanBatch, SpanKind, SpanRecord, StatusCode
from otel_perf.pipeline import Pipeline
from otel_perf.recommend.ranking import INFO_WEIGHT, POINTS, Inputs, recommend
from otel_perf.sidecar.replay import replay
from otel_perf.store import Store

S = 1_000_000_000
MS_PER_S = 1000.0
SEVERITY_RANK = {s.value: s.rank for s in Severity}

CONFIG = """
receivers: {otlp: {}}
processors:
  bottlenecks: {trace_quiet_time: 0s, evaluation_interval: 60s, min_traces: 10}
  slo:
    defaults: {enabled: false}
    min_events: 0
    objectives: [{name: app-availability, service: app, availability: 0.999}]
  regression: {version_window: 100, baseline_intervals: 0}
  cache: {candidate_horizon: 10m, candidate_min_ms_per_min: 100}  # candidates at the last tick
service:
  pipelines:
    traces: {receivers: [otlp], processors: [bottlenecks, slo, regression, cache]}
"""


def at_ms(start_ns: int, offset_s: float) -> float:
    return start_ns / 1e6 + offset_s * MS_PER_S


def failing_requests(start_ns: int, n: int = 30) -> list[SpanRecord]:
    """Server spans of service ``app`` that all fail: the availability SLO burns."""
    return [
        span(
            f"f{i}",
            None,
            at_ms(start_ns, i * 0.1),
            at_ms(start_ns, i * 0.1) + 20,
            kind=SpanKind.SERVER,
            status=StatusCode.ERROR,
            trace_id=(1000 + i).to_bytes(16, "big"),
        )
        for i in range(n)
    ]


def version_requests(start_ns: int) -> list[SpanRecord]:
    """``shop`` GET /cart served by 1.0, then 60 % slower by 2.0; GET /items 40 % faster."""
    rng = random.Random(5)
    spans = []
    for v_index, version in enumerate(("1.0", "2.0")):
        for op, median in (
            ("GET /cart", 50.0 if version == "1.0" else 80.0),
            ("GET /items", 20.0 if version == "1.0" else 12.0),
        ):
            for i in range(150):
                begin = at_ms(start_ns, v_index * 10 + i * 0.05)
                spans.append(
                    span(
                        f"{version}{op}{i}",
                        None,
                        begin,
                        begin + median * rng.lognormvariate(0, 0.2),
                        name=op,
                        service="shop",
                        kind=SpanKind.SERVER,
                        resource_attrs={"service.version": version},
                        trace_id=rng.randbytes(16),
                    )
                )
    return spans


def repeated_query(start_ns: int) -> list[SpanRecord]:
    """The same 150 ms product lookup, 20 times a second apart: a cacheable query."""
    sql = "SELECT * FROM products WHERE id = 7"
    return [
        span(
            f"q{i}",
            None,
            at_ms(start_ns, i),
            at_ms(start_ns, i) + 150,
            name="SELECT",
            kind=SpanKind.CLIENT,
            attrs={"db.system.name": "postgresql", "db.query.text": sql},
            trace_id=(5000 + i).to_bytes(16, "big"),
        )
        for i in range(20)
    ]


def shop_pipeline(config: str = CONFIG, replay_dir: Path | None = None) -> tuple[Pipeline, int]:
    """A pipeline holding findings of every source; returns it and the last tick time.

    With ``replay_dir`` the shop's traffic is written there as OTLP JSON lines (what the
    Collector's file exporter writes) and replayed (``otel_perf.sidecar.replay``); else
    decoded here.
    """
    pipe = Pipeline(load_config(text=config), Store(":memory:"), clock=lambda: 1)
    pipe.start(worker=False)
    traffic = scenarios.generate("n_plus_one", traces=120)
    # otel-perf has watched for six quiet minutes before the traffic: the SLO's burn-rate
    # windows are observed, so the failures below may page (a fresh start could not)
    for minutes_before in range(6, 0, -1):
        pipe.tick(traffic.start_ns - minutes_before * 60 * S)
    if replay_dir is not None:
        path = replay_dir / "shop.jsonl"
        lines = (
            json.dumps(message_to_json(ExportTraceServiceRequest.FromString(body)))
            for body in traffic.requests
        )
        path.write_text("\n".join(lines) + "\n")
        report = replay(pipe, [path])
        assert report.items == traffic.spans and not report.errors, report.errors
    else:
        decoder = Decoder(Limits(span_attribute_keys=SPAN_ATTRIBUTE_KEYS | pipe.span_attributes))
        for body in traffic.requests:
            batch, _ = decoder.spans(ExportTraceServiceRequest.FromString(body))
            pipe.process(batch)
    start = traffic.start_ns
    for spans in (failing_requests(start), version_requests(start), repeated_query(start)):
        pipe.process(SpanBatch(spans))
    end = max(traffic.end_ns, start + 25 * S)
    pipe.tick(end + S)  # closes every trace (no quiet time), evaluates SLO, cache, versions
    last = end + 62 * S
    pipe.tick(last)  # the bottlenecks window is evaluated
    return pipe, last


@pytest.fixture(scope="module")
def shop() -> Iterator[Pipeline]:
    pipe, _ = shop_pipeline()
    yield pipe
    pipe.shutdown()


@pytest.fixture(scope="module")
def api(shop: Pipeline) -> Iterator[httpx.Client]:
    with client(shop) as http:
        yield http


def everything(api: httpx.Client) -> list[dict[str, Any]]:
    response = api.get("/performance/recommendations", params={"limit": 1000})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["recommendations"]
    return items


def stored(shop: Pipeline) -> dict[str, Finding]:
    return {f.key: f for f in shop.store.findings(limit=5000)}


def one(items: list[dict[str, Any]], **match: str) -> dict[str, Any]:
    found = [i for i in items if all(i["finding"].get(k, i.get(k)) == v for k, v in match.items())]
    assert len(found) == 1, (match, [(i["action"], i["finding"]["kind"]) for i in items])
    return found[0]


def test_every_source_appears_with_evidence_and_its_finding(
    shop: Pipeline, api: httpx.Client
) -> None:
    items = everything(api)
    findings = stored(shop)
    for item in items:  # each refers to a finding the store holds, by key and kind
        ref = item["finding"]
        assert ref["key"] in findings and findings[ref["key"]].kind == ref["kind"], item

    n_plus_one = one(items, kind="n_plus_one")
    assert n_plus_one["category"] == "performance" and n_plus_one["service"] == "checkout"
    assert "Batch the N+1 in checkout GET /orders" in n_plus_one["action"]
    assert scenarios.ITEMS_BY_ORDER_FINGERPRINT in n_plus_one["action"]
    assert n_plus_one["evidence"]["trace_ids"]
    assert n_plus_one["evidence"]["figures"]["max_calls"] == scenarios.N_PLUS_ONE_CALLS
    attrs = findings[n_plus_one["finding"]["key"]].attributes
    per_min = attrs["saveable_ms_per_trace"] * attrs["occurrences"]  # one 60 s window
    assert n_plus_one["impact"] == {
        "kind": "latency_ms_per_min",
        "value": pytest.approx(per_min, rel=1e-5),  # the smoothed rate of its one window
        "text": n_plus_one["impact"]["text"],
    }

    (slo,) = [i for i in items if i["category"] == "reliability"]
    assert slo["finding"]["kind"] in ("burn_rate_alert", "slo_violation")
    assert slo["severity"] == "critical" and slo["service"] == "app"
    assert "app-availability" in slo["action"] and "error budget exhausted" in slo["action"]
    assert slo["impact"]["kind"] == "budget_burn" and slo["impact"]["value"] > 14.4
    assert slo["evidence"]["figures"]["error_budget_remaining"] < 0

    regression = one(items, kind="regression_detected")
    assert regression["service"] == "shop"
    assert "version 2.0" in regression["action"] and "GET /cart" in regression["action"]
    assert regression["impact"]["kind"] == "relative_latency"
    assert 0.3 < regression["impact"]["value"] < 0.9
    assert regression["evidence"]["figures"]["old_version"] == "1.0"

    (cache,) = [i for i in items if i["category"] == "caching"]
    assert cache["finding"]["kind"] == "recommendation" and cache["service"] == "app"
    assert cache["action"].startswith("Cache the postgresql query in app for")
    assert cache["evidence"]["trace_ids"]
    saving = findings[cache["finding"]["key"]].attributes["estimated_saving_ms_per_min"]
    assert cache["impact"]["value"] == pytest.approx(saving) and saving > 0


def test_ranked_by_impact_then_severity(api: httpx.Client) -> None:
    items = everything(api)
    assert [i["rank"] for i in items] == list(range(1, len(items) + 1))
    order = [(-i["score"], -SEVERITY_RANK[i["severity"]]) for i in items]
    assert order == sorted(order)
    # the declared objective's page burns 1000× (every request fails): the largest impact
    assert items[0]["category"] == "reliability" and items[0]["severity"] == "critical"
    for item in items:
        impact, ranking = item["impact"], item["ranking"]
        # an info performance item is what its processor judged expected: a tenth
        expected = item["severity"] == "info" and item["category"] == "performance"
        weight = INFO_WEIGHT if expected else 1.0
        points = weight * POINTS[impact["kind"]](impact["value"])
        assert item["score"] == pytest.approx(points, abs=1e-3)
        assert ranking["by"] == "impact" and ranking["score"] == item["score"]
        assert ranking["impact_kind"] == impact["kind"]
        assert ranking["tie_break"] == {"severity": item["severity"]}
        assert ranking["rule"].startswith("points = ")
    assert len({i["finding"]["key"] for i in items}) == len(items)  # deduplicated
    rank = {(i["finding"]["kind"], i["subject"].split(" in ")[0]): i["rank"] for i in items}
    n_plus_one = next(r for (kind, _), r in rank.items() if kind == "n_plus_one")
    assert n_plus_one < rank[("bottleneck_identified", scenarios.ITEMS_BY_ORDER_OPERATION)]


def test_filters_and_limit(api: httpx.Client) -> None:
    items = everything(api)
    get = api.get
    checkout = get("/performance/recommendations", params={"service": "checkout"}).json()
    assert checkout["recommendations"]
    assert {i["service"] for i in checkout["recommendations"]} == {"checkout"}
    assert [i["finding"]["key"] for i in checkout["recommendations"]] == [
        i["finding"]["key"] for i in items if i["service"] == "checkout"
    ]
    caching = get("/performance/recommendations", params={"category": "caching"}).json()
    assert [i["category"] for i in caching["recommendations"]] == ["caching"]
    top = get("/performance/recommendations", params={"limit": 2}).json()["recommendations"]
    assert [(i["rank"], i["finding"]["key"]) for i in top] == [
        (i["rank"], i["finding"]["key"]) for i in items[:2]
    ]
    default = get("/performance/recommendations").json()["recommendations"]
    assert len(default) == min(50, len(items))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"category": "speed"}, 'unknown category "speed" (known: performance, reliability'),
        ({"limit": "x"}, "query parameter limit: not an integer: 'x'"),
        ({"limit": "0"}, "query parameter limit: must be between 1 and 1000, got 0"),
        ({"limit": "1001"}, "must be between 1 and 1000, got 1001"),
        ({"service": ""}, "query parameter service: must not be empty"),
    ],
)
def test_bad_parameters_are_400_with_a_message(
    api: httpx.Client, params: dict[str, str], message: str
) -> None:
    response = api.get("/performance/recommendations", params=params)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_cli_json_and_table(
    api: httpx.Client, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from otel_perf.cli.commands import main

    monkeypatch.setenv("COLUMNS", "300")  # rich wraps cells to the terminal's width

    url = str(api.base_url)
    assert main(["recommendations", "--api", url, "-o", "json", "--category", "caching"]) == 0
    (item,) = json.loads(capsys.readouterr().out)["recommendations"]
    assert item["category"] == "caching"
    assert main(["recommendations", "--api", url, "--service", "checkout", "--limit", "3"]) == 0
    out = capsys.readouterr().out
    assert "Batch the N+1" in out and "n_plus_one" in out
    with pytest.raises(SystemExit) as exited:
        main(["recommendations", "--api", url, "--category", "nope"])
    assert exited.value.code == 2
    assert "--category: invalid choice: 'nope'" in capsys.readouterr().err
    assert main(["recommendations", "--api", url, "--limit", "0"]) == 1
    assert "must be between 1 and 1000, got 0" in capsys.readouterr().err


def test_openapi_lists_the_route(api: httpx.Client) -> None:
    paths = api.get("/performance/openapi.json").json()["paths"]
    parameters = paths["/performance/recommendations"]["get"]["parameters"]
    assert {p["name"] for p in parameters} == {"service", "category", "limit"}


# -- the pure function: deduplication, episodes, the common scale ----------------------


def finding(kind: Kind, subject: str, time_s: float, /, **attributes: Any) -> Finding:
    state = attributes.pop("state", State.OPEN)
    severity = attributes.pop("severity", Severity.WARNING)
    return Finding(
        kind=kind,
        severity=severity,
        service=attributes.pop("service", "svc"),
        subject=subject,
        time_ns=int(time_s * S),
        summary=subject,
        attributes=attributes,
        source=attributes.pop("source", "capacity"),
        state=state,
    )


def crossing(resource: str, days: float, time_s: float = 100.0) -> Finding:
    return finding(
        Kind.CAPACITY_FORECAST,
        f"{resource} >= limit",
        time_s,
        resource=resource,
        metric="cpu",
        threshold=0.9,
        threshold_label="limit",
        at="2024-01-08T00:00:00Z",
        days_until=days,
    )


def test_the_same_finding_key_once_newest_wins_resolved_gone() -> None:
    older, newer = crossing("cpu", 10.0, time_s=50), crossing("cpu", 3.0, time_s=90)
    assert older.key == newer.key
    (item,) = recommend(Inputs({}, [newer, older]))
    assert item["impact"] == {
        "kind": "days_to_threshold",
        "value": 3.0,
        "text": item["impact"]["text"],
    }
    assert item["finding"]["time_ns"] == 90 * S and "3.0 days" in item["action"]

    anomaly = {
        "series": "s",
        "value": 9.0,
        "expected_low": 1.0,
        "expected_high": 2.0,
        "score": 0.99,
        "direction": "up",
        "source": "anomaly",
    }
    opened = finding(Kind.ANOMALY_DETECTED, "s", 10, **anomaly)
    closed = finding(Kind.ANOMALY_DETECTED, "s", 20, state=State.RESOLVED, **anomaly)
    assert recommend(Inputs({}, [opened]))[0]["category"] == "reliability"
    assert recommend(Inputs({}, [opened, closed])) == []


def test_stale_findings_age_out_after_a_day_of_event_time() -> None:
    old = crossing("disk", 5.0, time_s=0)
    fresh = crossing("cpu", 5.0, time_s=25 * 3600)
    items = recommend(Inputs({}, [old, fresh]))
    assert [i["action"].split(" for ")[1].split(":")[0] for i in items] == ["cpu"]


def test_common_scale_weighs_a_week_to_capacity_like_a_second_per_minute() -> None:
    week = crossing("cpu", 7.0)
    day = crossing("memory", 1.0)
    over = finding(
        Kind.RECOMMENDATION,
        "mem right-size",
        100,
        resource="mem",
        kind="memory",
        status="over",
        target=1.0,
        lower=0.8,
        upper=1.2,
        request=4.0,
        limit=None,
        history_days=7,
        saving=500.0,
        currency="EUR",
        severity=Severity.INFO,
    )
    items = recommend(Inputs({}, [week, day, over], periods_s={"capacity": 15 * 86400.0}))
    scores = {i["subject"]: i["score"] for i in items}
    assert scores == {
        "cpu >= limit": pytest.approx(1000.0),
        "memory >= limit": pytest.approx(7000.0),
        "mem right-size": pytest.approx(1000.0),  # 500 per 15 days = 1000 a month
    }
    assert [i["subject"] for i in items] == ["memory >= limit", "cpu >= limit", "mem right-size"]
    assert items[2]["category"] == "cost" and items[2]["impact"]["text"] == "~1000.00 EUR per month"


def test_a_finding_without_the_expected_attributes_is_skipped() -> None:
    broken = finding(Kind.N_PLUS_ONE, "x", 1, source="bottlenecks")
    assert recommend(Inputs({}, [broken, crossing("cpu", 2.0)]))[0]["subject"] == "cpu >= limit"
    assert len(recommend(Inputs({}, [broken]))) == 0


def test_a_component_contributes_rules_through_its_surface() -> None:
    # the test-only "recording" processor's surface adds a rule for its own recommendations
    advice = finding(
        Kind.RECOMMENDATION, "advice", 1, recommendation="test_advice", saving_ms_per_min=50
    )
    cache = finding(
        Kind.RECOMMENDATION,
        "ttl",
        1,
        **{"recommendation": "ttl_too_long", "estimated_saving_bytes_per_min": 1e9},
        **{"cache.name": "c", "cache.key_prefix": "p", "suggested_ttl_s": 60},
        **{"current_ttl_s": 600, "share": 0.5, "events": 10, "total": 20},
    )
    items = recommend(Inputs({}, [advice, cache]))
    assert [(i["subject"], i["action"]) for i in items] == [
        ("ttl", "Lower the TTL of cache c prefix p in svc to 60 s"),  # the cache's rule, 1e3
        ("advice", "Follow the test advice for svc"),  # the component's, 50 points
    ]
    assert items[1]["impact"]["value"] == 50
    unknown = finding(Kind.RECOMMENDATION, "odd", 1, recommendation="something_else")
    assert recommend(Inputs({}, [unknown])) == []  # no rule gives an item: no action


def test_a_component_says_through_its_surface_what_its_snapshot_holds_open() -> None:
    # the "recording" processor's surface: findings held in its snapshot, subjects it closed,
    # the time it evaluated at (tests/support.py)
    def advice(subject: str, time_s: float, ms: float) -> Finding:
        attrs = {"source": "recording", "recommendation": "test_advice"}
        return finding(Kind.RECOMMENDATION, subject, time_s, **attrs, saving_ms_per_min=ms)

    stored = [advice("stored", 10, 30), advice("over", 10, 40)]
    held = advice("held", 10, 20).model_dump(mode="json")
    snap = {"held_findings": [held], "closed": ["over"], "evaluated_ns": 10 * S}
    items = recommend(Inputs({"recording": {"recording": snap}}, stored))
    assert [(i["subject"], i["score"]) for i in items] == [("stored", 30), ("held", 20)]
    # a day after the snapshot's evaluation the stored advice is stale; the held one is not
    # (the processor holds it now), the closed one stays closed
    later = {**snap, "evaluated_ns": (10 + 86_400 + 1) * S}
    held_now = advice("held", 10 + 86_400, 20).model_dump(mode="json")
    later["held_findings"] = [held_now]
    items = recommend(Inputs({"recording": {"recording": later}}, stored))
    assert [i["subject"] for i in items] == ["held"]


def test_a_burn_rate_finding_with_malformed_rules_is_skipped() -> None:
    odd = finding(
        Kind.BURN_RATE_ALERT, "shop page", 1, source="slo", objective="shop", burn_rates=["x"]
    )
    assert recommend(Inputs({}, [odd, crossing("cpu", 2.0)]))[0]["subject"] == "cpu >= limit"


def test_a_hot_routes_bottleneck_outranks_a_critical_rare_query_and_a_suggested_slo_burn(
    tmp_path: Path,
) -> None:
    # a real slo processor, zero-config: "pricing" is slow by design (400 ms against the
    # suggested p95 of 150 ms), so its suggested latency objectives burn 20× for 8 minutes
    from otel_perf.component import Context
    from otel_perf.processors.slo.config import SLOConfig
    from otel_perf.processors.slo.processor import SLOProcessor

    slo = SLOProcessor(Context("slo", Store(tmp_path / "s.db")), SLOConfig())
    t0 = 1_700_000_000 // 60 * 60 * S
    burns: list[Finding] = []
    for step in range(8 * 6):
        now = t0 + step * 10 * S
        spans = [
            span(
                f"p{step}-{i}",
                None,
                now / 1e6 + i,
                now / 1e6 + i + 400,
                service="pricing",
                kind=SpanKind.SERVER,
                trace_id=(step * 10 + i).to_bytes(16, "big"),
            )
            for i in range(10)
        ]
        slo.consume_spans(SpanBatch(spans))
        burns += slo.tick(now + 10 * S)
    assert [f for f in burns if f.kind == Kind.BURN_RATE_ALERT and f.state == State.OPEN]
    when = (t0 + 48 * 10 * S) / S
    hot = {"service": "checkout", "source": "bottlenecks"}
    n_plus_one = finding(  # 25 ms saved in each of 600 requests a minute: 15 s per minute
        Kind.N_PLUS_ONE,
        "SELECT items in GET /orders",
        when,
        parent_operation="GET /orders",
        max_calls=12,
        fingerprint="SELECT * FROM items WHERE order_id = ?",
        saveable_ms_per_trace=25.0,
        occurrences=600,
        **hot,
    )
    hotspot = finding(  # 80 ms of the critical path of 600 requests a minute
        Kind.BOTTLENECK_IDENTIFIED,
        "SELECT items in GET /orders",
        when,
        operation="SELECT items",
        share=0.6,
        entry_service="checkout",
        entry_operation="GET /orders",
        entry_p95_ms=140.0,
        critical_path_ms_per_trace=80.0,
        traces=600,
        **hot,
    )
    export = finding(  # a staff-only export: critical (p95 ≥ 4× 500 ms) but 3 a minute
        Kind.SLOW_QUERY,
        "SELECT report in GET /admin/export",
        when,
        count=3,
        p50_ms=2000.0,
        p95_ms=2400.0,
        fingerprint="SELECT * FROM report",
        severity=Severity.CRITICAL,
        **hot,
    )
    snapshots = {"slo": {"slo": slo.snapshot()}}
    items = recommend(Inputs(snapshots, [*burns, export, hotspot, n_plus_one]))
    kinds = [i["finding"]["kind"] for i in items]
    assert kinds[:3] == ["n_plus_one", "slow_query", "bottleneck_identified"], kinds
    assert items[0]["score"] == pytest.approx(15_000.0)
    assert items[1]["severity"] == "critical" and items[1]["score"] == pytest.approx(6000.0)
    assert items[2]["score"] == pytest.approx(4800.0)  # a tenth of 48 s per minute
    suggested = [i for i in items if i["impact"]["kind"] == "suggested_budget_burn"]
    assert suggested and all(i["rank"] > 3 for i in suggested)
    assert all(i["score"] == pytest.approx(10 * i["impact"]["value"]) for i in suggested)
    assert all(i["action"].startswith("Review the suggested objective") for i in suggested)
    reasons = suggested[0]["ranking"]
    assert reasons["rule"] == "points = 10 × burn rate (suggested objective)"
    assert reasons["notes"] and "hundredth" in reasons["notes"][0]
    assert items[0]["ranking"] == {
        "by": "impact",
        "score": pytest.approx(15_000.0),
        "impact_kind": "latency_ms_per_min",
        "impact_value": pytest.approx(15_000.0),
        "rule": "points = ms saved per minute",
        "tie_break": {"severity": "warning"},
        "notes": [],
    }


SPANMETRICS_CONFIG = """
receivers: {otlp: {}}
processors:
  spanmetrics: {}
  regression: {version_window: 100, baseline_intervals: 0}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [spanmetrics, regression]}
"""


def test_a_release_regression_is_ranked_by_the_users_time_it_costs() -> None:
    """With the route's traffic known (span metrics), a release regression weighs relative
    change × the route's p50 before the release × requests per minute, with the reasons."""
    pipe = Pipeline(load_config(text=SPANMETRICS_CONFIG), Store(":memory:"), clock=lambda: 1)
    pipe.start(worker=False)
    try:
        start = 1_700_000_000 * S
        pipe.process(SpanBatch(version_requests(start)))
        pipe.tick(start + 25 * S)
        with client(pipe) as http:
            items = everything(http)
        finding = {f.key: f for f in pipe.store.findings(limit=100)}
        snapshot = next(iter(pipe.snapshot("spanmetrics").values()))
    finally:
        pipe.shutdown()
    regression = one(items, kind="regression_detected")
    attrs = finding[regression["finding"]["key"]].attributes
    (cart,) = [r for r in snapshot["red"] if r["operation"] == "GET /cart"]
    per_min = cart["rate_per_s"] * 60
    expected = attrs["relative_shift"] * attrs["baseline_p50"] * per_min
    assert regression["impact"]["kind"] == "latency_ms_per_min"
    assert regression["impact"]["value"] == pytest.approx(expected, rel=1e-6)
    assert 45 < attrs["baseline_p50"] < 55 and 0.3 < attrs["relative_shift"] < 0.9
    assert regression["score"] == pytest.approx(expected, abs=1e-3)
    figures, (note,) = regression["evidence"]["figures"], regression["ranking"]["notes"]
    assert figures["requests_per_min"] == pytest.approx(per_min, rel=1e-3)
    assert figures["route_p50_ms"] == attrs["baseline_p50"]
    assert "route p50" in note and "requests per minute" in note, note
    assert "ms per minute" in regression["impact"]["text"]
