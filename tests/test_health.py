"""One health verdict: ok when nothing is wrong, and each source (ingest, store, SLOs,
anomalies, regressions, capacity) moves it as documented in ``otel_perf.recommend.health``;
served by ``GET /performance/health`` and ``otel-perf health``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from otlp_builders import trace_request
from test_api import client
from test_recommendations import shop_pipeline

from otel_perf.config import load_config
from otel_perf.decode import Decoder
from otel_perf.findings import Finding, Kind, Severity, State
from otel_perf.pipeline import Pipeline
from otel_perf.processors.regression.health import REGRESSION_WINDOW_NS
from otel_perf.recommend.health import (
    HealthInputs,
    IngestBaseline,
    evaluate,
    ingest_counters,
)
from otel_perf.store import Store
from otel_perf.telemetry import Telemetry

S = 1_000_000_000
H = 3600 * S

CLEAN = """
receivers: {otlp: {}}
processors:
  spanmetrics: {}
  slo:
    defaults: {enabled: false}
    min_events: 0
    objectives: [{name: items, service: checkout, availability: 0.99}]
service:
  queue: {max_items: 10}
  pipelines:
    traces: {receivers: [otlp], processors: [spanmetrics, slo]}
"""


@pytest.fixture
def clean() -> Iterator[Pipeline]:
    pipe = Pipeline(load_config(text=CLEAN), Store(":memory:"), clock=lambda: 1)
    pipe.start(worker=False)
    batch, _ = Decoder().spans(trace_request(spans=5))
    pipe.process(batch)
    pipe.tick(batch.max_time_ns() + S)
    yield pipe
    pipe.shutdown()


def test_ok_when_nothing_is_wrong(clean: Pipeline, capsys: pytest.CaptureFixture[str]) -> None:
    from otel_perf.cli.commands import main

    with client(clean) as api:
        response = api.get("/performance/health")
        assert response.status_code == 200
        body = response.json()
        assert (body["status"], body["reasons"]) == ("ok", [])
        assert body["processors"] == ["slo", "spanmetrics"] and body["store"]["fault"] is None
        assert main(["health", "--api", str(api.base_url)]) == 0
        assert "ok" in capsys.readouterr().out


def test_a_full_queue_is_503_and_refusals_degrade(clean: Pipeline) -> None:
    batch, _ = Decoder().spans(trace_request(spans=5))
    while clean.submit(batch):  # no worker: the queue only fills
        pass
    with client(clean) as api:
        response = api.get("/performance/health")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "degraded"
        assert body["reasons"] == [
            {"source": "ingest", "status": "degraded", "text": text}
            for text in (
                "ingest queue is full (10/10 items)",
                "5 spans refused since start-up (queue full; clients retry)",
            )
        ]
        while clean.queue.take(timeout=0) is not None:  # drained: the queue recovers
            clean.telemetry.queue_depth = clean.queue.depth
        again = api.get("/performance/health")
        assert again.status_code == 200
        # the refusal is behind the baseline now: nothing new was refused
        assert again.json()["status"] == "ok", again.json()


def test_the_shop_is_critical_with_every_reason(capsys: pytest.CaptureFixture[str]) -> None:
    from otel_perf.cli.commands import main

    pipe, _ = shop_pipeline()
    try:
        with client(pipe) as api:
            body = api.get("/performance/health").json()
            assert body["status"] == "critical"
            reasons = body["reasons"]
            assert reasons[0] == {
                "source": "slo",
                "status": "critical",
                "text": "app-availability: burn-rate page firing",
            }
            assert {"source": "slo", "status": "degraded"} | {
                "text": "app-availability: SLO breached over rolling 30d"
            } in reasons
            (regression,) = [r for r in reasons if r["source"] == "regression"]
            assert regression["status"] == "degraded" and "2.0" in regression["text"]
            assert main(["health", "--api", str(api.base_url), "-o", "json"]) == 2
            assert json.loads(capsys.readouterr().out)["status"] == "critical"
    finally:
        pipe.shutdown()


# -- the pure verdict, one source at a time ----------------------------------------------


def telemetry(**counts: Any) -> dict[str, Any]:
    t = Telemetry()
    t.queue_capacity = 100
    for name, value in counts.items():
        counter, _, key = name.partition("__")
        t.count(getattr(t, counter), key, value)
    return t.snapshot()


def verdict(
    snapshots: dict[str, Any] | None = None,
    findings: list[Finding] | None = None,
    **extra: Any,
) -> tuple[str, list[tuple[str, str, str]]]:
    inputs = HealthInputs(
        snapshots=snapshots or {},
        telemetry=extra.pop("telemetry", telemetry()),
        findings=findings or [],
        **extra,
    )
    result = evaluate(inputs)
    return result.status, [(r.source, r.status, r.text) for r in result.reasons]


def objective(name: str, breached: bool = False, **firing: bool) -> dict[str, Any]:
    alerts = {a: {"firing": firing.get(a, False), "since_ns": None} for a in ("page", "ticket")}
    return {"name": name, "window": "rolling 30d", "breached": breached, "alerts": alerts}


def slo(*objectives: dict[str, Any]) -> dict[str, Any]:
    return {"slo": {"slo": {"objectives": list(objectives)}}}


def test_slo_page_is_critical_ticket_and_breach_degraded() -> None:
    assert verdict(slo(objective("a"))) == ("ok", [])
    assert verdict(slo(objective("a", page=True))) == (
        "critical",
        [("slo", "critical", "a: burn-rate page firing")],
    )
    status, reasons = verdict(slo(objective("a", ticket=True), objective("b", breached=True)))
    assert status == "degraded"
    assert reasons == [
        ("slo", "degraded", "a: burn-rate ticket firing"),
        ("slo", "degraded", "b: SLO breached over rolling 30d"),
    ]


def found(kind: Kind, severity: Severity, time_ns: int, **attrs: Any) -> Finding:
    state = attrs.pop("state", State.OPEN)
    return Finding(
        kind=kind,
        severity=severity,
        service=attrs.pop("service", "checkout"),
        subject=attrs.pop("subject", "thing"),
        time_ns=time_ns,
        summary=attrs.pop("summary", f"{kind.value} {severity.value}"),
        attributes=attrs,
        source=attrs.pop("source", kind.value),
        state=state,
    )


def test_only_critical_open_anomaly_episodes_degrade() -> None:
    t0 = 100 * H
    critical = found(Kind.ANOMALY_DETECTED, Severity.CRITICAL, t0, start_ns=t0)
    assert verdict(findings=[critical]) == (
        "degraded",
        [("anomaly", "degraded", "critical anomaly in checkout: anomaly_detected critical")],
    )
    warning = found(Kind.ANOMALY_DETECTED, Severity.WARNING, t0, start_ns=t0)
    assert verdict(findings=[warning]) == ("ok", [])
    resolved = found(
        Kind.ANOMALY_DETECTED, Severity.INFO, t0 + S, start_ns=t0, state=State.RESOLVED
    )
    assert verdict(findings=[critical, resolved]) == ("ok", [])
    # an earlier critical episode of the same series does not make a new warning one critical
    later = found(Kind.ANOMALY_DETECTED, Severity.WARNING, t0 + H, start_ns=t0 + H)
    assert verdict(findings=[critical, resolved, later]) == ("ok", [])
    # with an anomaly processor, only the episodes it still holds open count
    snapshot = {"anomaly": {"anomaly_detected": {"open_episodes": []}}}
    assert verdict(snapshot, findings=[critical]) == ("ok", [])
    snapshot["anomaly"]["anomaly_detected"]["open_episodes"] = [{"series": "thing"}]
    assert verdict(snapshot, findings=[critical])[0] == "degraded"


def test_regressions_of_the_last_day_degrade() -> None:
    now = 100 * H
    regression = found(Kind.REGRESSION_DETECTED, Severity.WARNING, now - REGRESSION_WINDOW_NS)
    newest = found(Kind.BOTTLENECK_IDENTIFIED, Severity.INFO, now)
    status, reasons = verdict(findings=[regression, newest])
    assert status == "degraded"
    assert reasons == [
        ("regression", "degraded", "regression in checkout: regression_detected warning")
    ]
    older = found(Kind.REGRESSION_DETECTED, Severity.WARNING, now - REGRESSION_WINDOW_NS - 1)
    assert verdict(findings=[older, newest]) == ("ok", [])
    improvement = found(Kind.IMPROVEMENT_DETECTED, Severity.INFO, now)
    assert verdict(findings=[improvement]) == ("ok", [])


def test_a_critical_capacity_forecast_degrades() -> None:
    soon = found(Kind.CAPACITY_FORECAST, Severity.CRITICAL, H, summary="cpu reaches limit in 2 d")
    assert verdict(findings=[soon]) == ("degraded", [("capacity", "degraded", soon.summary)])
    later = found(Kind.CAPACITY_FORECAST, Severity.WARNING, H)
    assert verdict(findings=[later]) == ("ok", [])
    # the capacity processor's current findings count without being stored
    held = {"capacity": {"capacity": {"current_findings": [soon.model_dump(mode="json")]}}}
    assert verdict(held)[0] == "degraded"


def test_store_faults_degrade() -> None:
    fault = {"fault": {"message": "disk full", "since": "2024-01-01T00:00:00Z"}}
    assert verdict(store=fault) == (
        "degraded",
        [("store", "degraded", "store: disk full since 2024-01-01T00:00:00Z")],
    )
    assert verdict(store={"fault": None}) == ("ok", [])


def test_ingest_counters_degrade_while_they_rise() -> None:
    counts = telemetry(
        rejected__spans=3, component_errors__bottlenecks=2, component_errors__store=1
    ) | {"export_errors": {"otlp": 5}}
    status, reasons = verdict(telemetry=counts)
    assert status == "degraded"
    assert [text for _, _, text in reasons] == [
        "component bottlenecks failed 2 times since start-up",
        "1 store writes failed since start-up",
        "exporter otlp: 5 failed exports since start-up",
        "3 spans rejected as invalid since start-up",
    ]
    same = ingest_counters(counts)
    assert verdict(telemetry=counts, baseline=same) == ("ok", [])
    more = telemetry(rejected__spans=4)
    assert verdict(telemetry=more, baseline=same) == (
        "degraded",
        [("ingest", "degraded", "1 spans rejected as invalid recently")],
    )


def test_the_baseline_is_the_reading_from_about_a_window_ago() -> None:
    now = [0.0]
    baseline = IngestBaseline(window_s=60, clock=lambda: now[0])
    assert baseline.update({"refused:spans": 1}) is None  # first reading: compare with zero
    now[0] = 2.0  # too soon for a new sample: still compared with the first
    assert baseline.update({"refused:spans": 2}) == {"refused:spans": 1}
    for t in range(10, 200, 10):
        now[0] = float(t)
        baseline.update({"refused:spans": t})
    now[0] = 200.0
    assert baseline.update({"refused:spans": 200}) == {"refused:spans": 140}
    assert len(baseline.samples) <= baseline.samples.maxlen  # type: ignore[operator]
    now[0] = 10_000.0  # after a long gap: the last reading, not start-up
    assert baseline.update({"refused:spans": 200}) == {"refused:spans": 200}


def test_openapi_describes_health(clean: Pipeline) -> None:
    with client(clean) as api:
        summary = api.get("/performance/openapi.json").json()["paths"]["/performance/health"]
    assert "anomalies, regressions and capacity" in summary["get"]["summary"]


def test_cli_table_lists_the_reasons(
    clean: Pipeline, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from otel_perf.cli.commands import main

    monkeypatch.setenv("COLUMNS", "200")
    clean.telemetry.count(clean.telemetry.component_errors, "spanmetrics", 3)
    with client(clean) as api:
        assert isinstance(api, httpx.Client)
        assert main(["health", "--api", str(api.base_url)]) == 1
    out = capsys.readouterr().out
    assert "degraded" in out and "component spanmetrics failed 3 times since start-up" in out
