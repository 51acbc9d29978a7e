"""kill -9 under load, then restart on the same store: SLO windows, regression baselines
and capacity usage history are intact up to the last flush.

Known data first (shop spans with a fixed error count, a baseline posted over the API),
waited for until the store file holds it; then an OTel SDK client process loads the
sidecar with other traffic, and the sidecar is killed mid-stream. What the file held at
the kill is what the restarted sidecar serves: the SLO figures exactly, the baseline
exactly, every usage bucket of the known data. Traffic after the last flush is what a
kill may lose (at most one flush interval).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from e2e import SidecarProcess, send_traces, start_sidecar
from otlp_builders import trace_request

pytestmark = pytest.mark.e2e

SHOP_SPANS, SHOP_ERRORS = 400, 4
BASELINE = [10.0 + (i % 7) for i in range(200)]

CONFIG = """
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc}"}}
processors:
  spanmetrics: {{interval: 1s, late_grace: 0s}}
  slo:
    defaults: {{enabled: false}}
    objectives:
      - {{name: shop, service: shop, availability: 0.99}}
    min_events: 0
    evaluation_interval: 1s
    save_interval: 1s
  regression: {{save_interval: 1s}}
  capacity: {{forecast_interval: 1s, min_history: 0s}}
extensions:
  api: {{endpoint: "127.0.0.1:{api}"}}
service:
  extensions: [api]
  tick_interval: 100ms
  store: {{flush_interval: 1s}}
  pipelines:
    traces: {{receivers: [otlp], processors: [spanmetrics, slo, regression, capacity]}}
"""

# an application with the OTel SDK: BatchSpanProcessor + OTLP gRPC exporter, until killed
CLIENT = """
import sys, time
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind

provider = TracerProvider(resource=Resource.create({"service.name": "load"}))
exporter = OTLPSpanExporter(endpoint=sys.argv[1], insecure=True, timeout=5)
provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50))
tracer = provider.get_tracer("load")
while True:
    for _ in range(50):
        with tracer.start_as_current_span("GET /load", kind=SpanKind.SERVER,
                                          attributes={"http.route": "/load"}):
            pass
    time.sleep(0.02)
"""


def start(tmp_path: Path, store: Path, ports: dict[str, int] | None = None) -> SidecarProcess:
    """A sidecar process on ``store`` (the restart reuses it and the ports)."""
    return start_sidecar(tmp_path, CONFIG, store=store, ports=ports)


def shop_requests() -> list[bytes]:
    """SHOP_SPANS server spans of "shop" that ended a few seconds ago, SHOP_ERRORS failed."""
    now = time.time_ns()
    out = []
    for batch in range(4):
        request = trace_request(SHOP_SPANS // 4, "shop", seed=batch, start_ns=now - 3 * 10**9)
        for i, span in enumerate(request.resource_spans[0].scope_spans[0].spans):
            if batch == 0 and i < SHOP_ERRORS:
                span.status.code = 2
        out.append(request.SerializeToString())
    return out


def post(sidecar: SidecarProcess, path: str, body: Any) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{sidecar.api}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def query(store: Path, sql: str) -> list[tuple[Any, ...]]:
    """Read the file as a restart would, with a read-only connection of its own."""
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchall()
    except sqlite3.OperationalError:  # schema not there yet
        return []
    finally:
        db.close()


def persisted(store: Path) -> dict[str, Any]:
    """What the file holds of the known data: SLO state, the baseline, shop's usage."""
    state = dict(
        query(
            store,
            "SELECT component || '/' || name, body FROM component_state"
            " WHERE component IN ('slo', 'regression')",
        )
    )
    usage = query(
        store,
        "SELECT resolution_s, start_ns, count, sum FROM usage"
        " WHERE resource = 'shop/request.rate' ORDER BY 1, 2",
    )
    return {
        "slo": state.get("slo/shop"),
        "baseline": state.get("regression/baseline/checkout"),
        "usage": usage,
    }


def slo_budget(sidecar: SidecarProcess) -> dict[str, Any] | None:
    views = sidecar.get("/performance/slo")["objectives"]
    view = next((v for v in views if v["name"] == "shop"), None)
    return dict(view["budget"]) if view and "budget" in view else None


def wait(predicate: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def baseline_view(sidecar: SidecarProcess) -> Any:
    analysis = sidecar.get("/performance/regression/analysis")
    return next((b for b in analysis.get("baselines", []) if b["name"] == "checkout"), None)


def load_accepted(sidecar: SidecarProcess) -> int:
    return int(sidecar.metrics()["services"]["counts"].get("load", 0))


def test_kill_9_under_load_keeps_what_was_flushed(tmp_path: Path) -> None:
    store = tmp_path / "kill.db"
    first = start(tmp_path, store)
    second: SidecarProcess | None = None
    client: subprocess.Popen[bytes] | None = None
    try:
        send_traces(first, shop_requests())
        post(
            first, "/performance/regression/baselines", {"name": "checkout", "samples_ms": BASELINE}
        )
        budget = wait(
            lambda: (b := slo_budget(first)) and b["total"] == SHOP_SPANS and b, "SLO counts"
        )
        assert budget["bad"] == SHOP_ERRORS
        baseline = wait(lambda: baseline_view(first), "the baseline")
        # flushed: the file holds the SLO state, the baseline and shop's request-rate usage
        flushed = wait(
            lambda: (p := persisted(store))["slo"] and p["baseline"] and p["usage"] and p,
            "the known data to be flushed",
        )

        client = subprocess.Popen(
            [sys.executable, "-c", CLIENT, first.grpc_endpoint],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait(lambda: load_accepted(first) > 500, "the load to flow")
        loaded = load_accepted(first)
        first.process.kill()  # SIGKILL under load: no drain, no final flush
        assert first.process.wait(10) == -9
        at_kill = persisted(store)

        ports = {"grpc": first.grpc, "http": first.http, "api": first.api}
        second = start(tmp_path, store, ports)  # the client keeps sending; its SDK retries
        after = wait(lambda: slo_budget(second), "the restarted SLO evaluation")
        assert (after["total"], after["bad"]) == (SHOP_SPANS, SHOP_ERRORS)
        assert after["error_budget_remaining"] == pytest.approx(
            budget["error_budget_remaining"], abs=1e-12
        )
        restored = baseline_view(second)
        assert restored == baseline
        # usage history: every bucket flushed before the kill is there after the restart
        # the counts persisted before the load are the ones in the file at the kill
        assert json.loads(at_kill["slo"])["counts"] == json.loads(flushed["slo"])["counts"]
        assert at_kill["baseline"] == flushed["baseline"]
        kept = {(r, s): (c, t) for r, s, c, t in persisted(store)["usage"]}
        for resolution_s, start_ns, count, total in at_kill["usage"]:
            assert kept[(resolution_s, start_ns)] >= (count, total), (resolution_s, start_ns)
        wait(lambda: load_accepted(second) > 0, "the load to reach the restarted sidecar")
        assert loaded > 500
        assert second.stop() == 0, second.log()
    finally:
        if client is not None:
            client.kill()
            client.wait()
        if first.process.poll() is None:
            first.process.kill()
            first.process.wait()
        if second is not None:
            second.stop()
