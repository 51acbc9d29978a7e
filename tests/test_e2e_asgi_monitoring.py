"""examples/monitored_app.py (otel_perf.asgi) run by uvicorn under opentelemetry-instrument
exports to a real otel-perf: its checkpoints become phases and its memory attributes
memory growth in /performance/bottlenecks, and its business metric arrives as a metric
series the anomaly processor watches."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e import (
    RECEIVERS,
    SidecarProcess,
    http_status,
    poll,
    start_instrumented_app,
    start_sidecar,
    wait_app,
)
from ports import free_port

pytestmark = pytest.mark.e2e
SERVICE = "shop-monitored"
ROUTE = "GET /checkout/{items:int}"

CONFIG = (
    RECEIVERS
    + """\
processors:
  spanmetrics: {{}}
  bottlenecks:
    trace_quiet_time: 1s
    evaluation_interval: 2s
    min_traces: 1
  anomaly:
    include: ["metric:business.*"]
extensions:
  api: {{endpoint: "127.0.0.1:{api}"}}
service:
  extensions: [api]
  tick_interval: 200ms
  pipelines:
    traces: {{receivers: [otlp], processors: [spanmetrics, bottlenecks]}}
    metrics: {{receivers: [otlp], processors: [anomaly]}}
"""
)


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[SidecarProcess]:
    process = start_sidecar(tmp_path, CONFIG)
    yield process
    assert process.stop() == 0, process.log()


def test_monitored_app_reports_phases_memory_and_business_metrics(
    sidecar: SidecarProcess, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "app.log"
    app = start_instrumented_app(
        "monitored_app",
        sidecar,
        port,
        log,
        OTEL_SERVICE_NAME=SERVICE,
        OTEL_METRICS_EXPORTER="otlp",
        OTEL_METRIC_EXPORT_INTERVAL="300",
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_app(f"{base}/health", app, log)
        # several rounds across metric export intervals, so the cumulative histogram
        # changes between exports (the anomaly processor scores the change)
        for round_ in range(4):
            assert [http_status(f"{base}/checkout/{i}") for i in range(1, 6)] == [200] * 5
            if round_ < 3:
                time.sleep(0.5)
        phases = poll(
            lambda: sidecar.get("/performance/bottlenecks")["phases"],
            lambda rows: (
                {r["phase"] for r in rows if r["route"] == ROUTE}
                >= {"start→validated", "validated→priced", "priced→stored", "stored→end"}
            ),
        )
        memory = sidecar.get("/performance/bottlenecks")["memory"]
        metrics = poll(sidecar.metrics, lambda m: m["processed"]["metric_points"] > 0)
        anomaly = poll(
            lambda: sidecar.get("/performance/anomalies")["processors"],
            lambda procs: any(
                s["series"].startswith(f"metric:business.order.value{{{SERVICE}")
                for snap in procs.values()
                for s in snap["top_scores"]
            ),
        )
    finally:
        app.terminate()
        app.wait(30)
    app_log = log.read_text()
    assert "Traceback" not in app_log and "ended span" not in app_log, app_log
    ours = [r for r in phases if r["service"] == SERVICE and r["route"] == ROUTE]
    by_phase = {r["phase"]: r for r in ours}
    # counts cover the current and last 2 s window only, so not every request is in them
    assert by_phase["start→validated"]["count"] >= 1, ours
    assert by_phase["validated→priced"]["p50_ms"] >= 4, ours  # the 5 ms pricing step
    rows = [r for r in memory if r["service"] == SERVICE and r["route"] == ROUTE]
    assert rows and rows[0]["requests"] >= 1, memory
    assert isinstance(rows[0]["mean_delta_bytes"], int | float), memory
    assert metrics["processed"]["metric_points"] > 0
    names = [s["series"] for snap in anomaly.values() for s in snap["top_scores"]]
    assert any("currency=EUR" in n for n in names), names
