"""Health, ``/performance/slo`` and recommendations tell the same SLO story — while the
outage burns, right after a restart on the same store with no traffic, and once the
restarted sidecar has watched long enough to see the burn is over. Suggested
(zero-config) objectives are in all three as warnings; only the declared one pages.
A Prometheus scrape shows the page as one open-finding series until it resolves."""

from __future__ import annotations

import hashlib
import urllib.request
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from test_api import client
from trace_builder import span

from otel_perf.config import load_config
from otel_perf.exporters.prometheus import PrometheusExporter
from otel_perf.model import SpanBatch, SpanKind, SpanRecord, StatusCode
from otel_perf.pipeline import Pipeline
from otel_perf.store import Store

S = 1_000_000_000
MIN = 60 * S
T0 = 1_700_000_000 // 60 * 60 * S

CONFIG = """
receivers: {otlp: {}}
processors:
  slo:
    objectives: [{name: app-availability, service: app, availability: 0.999}]
service:
  pipelines:
    traces: {receivers: [otlp], processors: [slo]}
"""


class Clock:
    def __init__(self, now_ns: int) -> None:
        self.now_ns = now_ns

    def __call__(self) -> int:
        return self.now_ns


def request(service: str, end_ns: int, duration_ms: float, error: bool) -> SpanRecord:
    end_ms = end_ns / 1e6
    status = StatusCode.ERROR if error else StatusCode.UNSET
    trace_id = hashlib.sha1(f"{service}{end_ns}".encode()).digest()[:16]
    kind = SpanKind.SERVER
    return span(
        f"{service}{end_ns}",
        None,
        end_ms - duration_ms,
        end_ms,
        service=service,
        kind=kind,
        status=status,
        trace_id=trace_id,
        name="GET /quote",
    )


def traffic(pipe: Pipeline, clock: Clock, minutes: int) -> None:
    """Each 10 s: five failing ``app`` requests, five slow-by-design ``pricing`` ones."""
    for _ in range(minutes * 6):
        spans = [request("app", clock.now_ns + i * S, 20, error=True) for i in range(5)]
        spans += [request("pricing", clock.now_ns + i * S, 400, error=False) for i in range(5)]
        pipe.process(SpanBatch(spans))
        clock.now_ns += 10 * S
        pipe.tick(clock.now_ns)


def quiet(pipe: Pipeline, clock: Clock, minutes: int) -> None:
    for _ in range(minutes * 6):
        clock.now_ns += 10 * S
        pipe.tick(clock.now_ns)


def story(api: httpx.Client) -> dict[str, Any]:
    """What each surface says about the objectives: which are bad, and how bad."""
    objectives = api.get("/performance/slo").json()["objectives"]
    bad = {
        o["name"]
        for o in objectives
        if o["breached"] or any(a["firing"] for a in o["alerts"].values())
    }
    paging = {o["name"] for o in objectives if o["alerts"]["page"]["firing"]}
    health = api.get("/performance/health").json()
    slo_reasons = [r for r in health["reasons"] if r["source"] == "slo"]
    items = api.get("/performance/recommendations", params={"limit": 1000}).json()
    slo_items = [i for i in items["recommendations"] if i["category"] == "reliability"]
    return {
        "objectives": {o["name"]: o["suggested"] for o in objectives},
        "bad": bad,
        "paging": paging,
        "health": health["status"],
        "health_critical": {
            r["text"].split(":")[0] for r in slo_reasons if r["status"] == "critical"
        },
        "health_named": {r["text"].split(":")[0] for r in slo_reasons},
        "recommended": {i["evidence"]["figures"]["objective"] for i in slo_items},
        "recommended_critical": {
            i["evidence"]["figures"]["objective"] for i in slo_items if i["severity"] == "critical"
        },
    }


def assert_agree(seen: dict[str, Any]) -> None:
    declared = {name for name, suggested in seen["objectives"].items() if not suggested}
    assert seen["recommended"] == seen["bad"], seen
    assert seen["health_critical"] == seen["paging"] & declared, seen
    assert seen["recommended_critical"] <= seen["health_critical"] | (seen["bad"] & declared)
    assert seen["health_named"] <= seen["bad"], seen
    assert (seen["health"] == "critical") == bool(seen["paging"] & declared), seen


def test_health_slo_and_recommendations_agree_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    clock = Clock(T0)
    pipe = Pipeline(load_config(text=CONFIG), Store(path), clock=clock)
    pipe.start(worker=False)
    traffic(pipe, clock, minutes=8)
    with client(pipe) as api:
        burning = story(api)
    assert burning["paging"] >= {"app-availability"} and burning["health"] == "critical"
    suggested = {name for name, s in burning["objectives"].items() if s}
    assert {"pricing-latency-p50", "pricing-latency-p95"} <= suggested & burning["bad"]
    assert burning["health_critical"] == {"app-availability"}  # suggested ones warn only
    assert_agree(burning)
    pipe.shutdown()

    clock.now_ns += 30 * S  # restarted half a minute later, on the same store, no traffic
    again = Pipeline(load_config(text=CONFIG), Store(path), clock=clock)
    again.start(worker=False)
    again.tick(clock.now_ns)
    with client(again) as api:
        restarted = story(api)
        assert restarted["objectives"] == burning["objectives"]  # suggested ones are back
        assert restarted["paging"] == burning["paging"]
        assert_agree(restarted)

        quiet(again, clock, minutes=10)  # the short windows drain: the pages resolve
        calm = story(api)
    assert not calm["paging"] and calm["health"] != "critical"
    assert_agree(calm)
    again.shutdown()


PAGING = """
receivers: {otlp: {}}
processors:
  slo:
    defaults: {enabled: false}
    objectives: [{name: app-availability, service: app, availability: 0.999}]
exporters:
  prometheus: {endpoint: "127.0.0.1:0"}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [slo], exporters: [prometheus]}
"""


def scrape(pipe: Pipeline) -> str:
    exporter = pipe.exporters["prometheus"]
    assert isinstance(exporter, PrometheusExporter) and exporter.address is not None
    host, port = exporter.address
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def open_findings(text: str) -> list[dict[str, str]]:
    families = {f.name: f for f in text_string_to_metric_families(text)}
    family = families.get("otel_perf_finding_open")
    return [s.labels for s in family.samples] if family is not None else []


def test_a_scrape_shows_the_open_page_once_and_not_after_it_resolves(tmp_path: Path) -> None:
    clock = Clock(T0)
    pipe = Pipeline(load_config(text=PAGING), Store(tmp_path / "s.db"), clock=clock)
    pipe.start(worker=False)
    try:
        traffic(pipe, clock, minutes=8)  # every app request fails: the page fires, once
        pages = [o for o in open_findings(scrape(pipe)) if o["kind"] == "burn_rate_alert"]
        assert [(p["subject"], p["severity"], p["objective"]) for p in pages] == [
            ("app-availability page", "critical", "app-availability")
        ]
        quiet(pipe, clock, minutes=10)  # the short window drains: the page resolves
        text = scrape(pipe)
        assert [o for o in open_findings(text) if o["kind"] == "burn_rate_alert"] == []
        # the breach over the 30-day window is still open, once
        assert [o["kind"] for o in open_findings(text)] == ["slo_violation"]
        opened = {
            s.labels["kind"]: s.value
            for f in text_string_to_metric_families(text)
            if f.name == "otel_perf_findings"
            for s in f.samples
            if s.name == "otel_perf_findings_total"
        }
        assert opened == {"burn_rate_alert": 1, "slo_violation": 1}  # openings only
    finally:
        pipe.shutdown()
