"""End to end: two services instrumented with the real OTel SDK export to otel-perf running
as its own process. ``shop`` runs its SQLite queries through the sqlite3 instrumentation and
also sends metrics and logs; ``legacy`` runs the same queries on a connection nothing
instruments (the SQLAlchemy-refuses-the-instrumentation case), so its traces carry server
spans only. ``/performance/metrics``, the CLI and the recommendations say which signals and
span kinds arrive per service, and that ``legacy`` looks uninstrumented."""

from __future__ import annotations

import io
import sqlite3
import time
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from e2e import RECEIVERS, SidecarProcess, start_sidecar
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Tracer

from otel_perf.cli.commands import main

pytestmark = pytest.mark.e2e

CONFIG = (
    RECEIVERS
    + """\
processors:
  instrumentation: {{window: 1s, min_self_time: 5ms, min_server_spans: 5}}
extensions:
  api: {{endpoint: "127.0.0.1:{api}"}}
service:
  extensions: [api]
  tick_interval: 100ms
  pipelines:
    traces: {{receivers: [otlp], processors: [instrumentation]}}
    metrics: {{receivers: [otlp], processors: [instrumentation]}}
    logs: {{receivers: [otlp], processors: [instrumentation]}}
"""
)
SLOW_S = 0.02  # what the handler does besides its query: in-process work, ≥ 20 ms


class App:
    """One service: a tracer over HTTP/protobuf and a SQLite connection."""

    def __init__(self, sidecar: SidecarProcess, service: str, instrumented: bool) -> None:
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}))
        exporter = OTLPSpanExporter(endpoint=f"{sidecar.http_url}/v1/traces")
        self.provider.add_span_processor(SimpleSpanProcessor(exporter))
        self.tracer: Tracer = self.provider.get_tracer("tests")
        db = sqlite3.connect(":memory:", check_same_thread=False)
        if instrumented:
            db = SQLite3Instrumentor.instrument_connection(db, tracer_provider=self.provider)
        db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        db.executemany("INSERT INTO items (name) VALUES (?)", [(f"item {i}",) for i in range(50)])
        self.db: Any = db

    def request(self) -> None:
        with self.tracer.start_as_current_span("GET /items", kind=SpanKind.SERVER) as span:
            span.set_attribute("http.route", "/items")
            cursor = self.db.cursor()  # the dbapi instrumentation traces cursors
            cursor.execute("SELECT name FROM items WHERE id = ?", (7,))
            cursor.fetchall()
            time.sleep(SLOW_S)  # in-process work: only ever longer, never shorter

    def close(self) -> None:
        self.provider.shutdown()


def send_metrics_and_logs(sidecar: SidecarProcess, service: str) -> None:
    resource = Resource.create({"service.name": service})
    exporter = OTLPMetricExporter(endpoint=f"{sidecar.http_url}/v1/metrics")
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    meters = MeterProvider(resource=resource, metric_readers=[reader])
    meters.get_meter("tests").create_counter("orders").add(3)
    meters.shutdown()  # exports once
    logs = LoggerProvider(resource=resource)
    logs.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{sidecar.http_url}/v1/logs"))
    )
    logs.get_logger("tests").emit(body="order placed", severity_number=SeverityNumber.INFO)
    logs.shutdown()


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[SidecarProcess]:
    process = start_sidecar(tmp_path, CONFIG)
    yield process
    assert process.stop() == 0, process.log()


def verdict(metrics: Any, service: str) -> str:
    row = (metrics.get("instrumentation") or {}).get("services", {}).get(service) or {}
    return str((row.get("verdict") or {}).get("state", ""))


def test_a_service_without_exit_spans_is_named(sidecar: SidecarProcess) -> None:
    shop, legacy = App(sidecar, "shop", True), App(sidecar, "legacy", False)
    send_metrics_and_logs(sidecar, "shop")
    try:

        def judged(metrics: Any) -> bool:
            shop.request()  # traffic keeps flowing while the window fills
            legacy.request()
            return verdict(metrics, "legacy") == "gap" and verdict(metrics, "shop") == "ok"

        metrics = sidecar.wait_for(judged, timeout=30)
    finally:
        shop.close()
        legacy.close()
    view = metrics["instrumentation"]
    assert view["window_s"] == 1.0 and view["overflowed"] == {"traces": 0, "metrics": 0, "logs": 0}
    shop_row, legacy_row = view["services"]["shop"], view["services"]["legacy"]
    assert set(shop_row["signals"]) == {"traces", "metrics", "logs"}
    assert set(shop_row["spans"]) == {"server", "db"}  # the sqlite3 instrumentation's spans
    assert shop_row["spans"]["db"]["count"] == shop_row["spans"]["server"]["count"]
    assert set(legacy_row["signals"]) == {"traces"} and set(legacy_row["spans"]) == {"server"}
    assert legacy_row["missing"] == ["client", "db", "messaging", "internal"]
    assert legacy_row["verdict"]["server_p95_ms"] >= SLOW_S * 1000
    assert legacy_row["verdict"]["no_exit_spans_s"] >= 1.0

    # one service asked for: only that row
    one = sidecar.get("/performance/metrics?service=legacy")["instrumentation"]["services"]
    assert list(one) == ["legacy"]

    findings = sidecar.get("/performance/findings?kind=recommendation")["findings"]
    assert len(findings) == 1  # announced once, not at every tick
    (finding,) = [
        f
        for f in sidecar.get("/performance/findings?kind=recommendation")["findings"]
        if f["attributes"].get("recommendation") == "check_instrumentation"
    ]
    assert finding["service"] == "legacy" and finding["severity"] == "info"
    assert finding["state"] == "open" and "no client, DB or messaging span" in finding["summary"]
    actions = sidecar.get("/performance/recommendations")["recommendations"]
    (action,) = [a for a in actions if a["subject"] == "legacy instrumentation"]
    assert action["action"].startswith("Check the instrumentation of legacy")

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["instrumentation", "--api", f"http://127.0.0.1:{sidecar.api}"])
    assert code == 0
    rows = {line.split("│")[1].strip(): line for line in out.getvalue().splitlines() if "│" in line}
    assert "gap" in rows["legacy"] and "ok" in rows["shop"]
