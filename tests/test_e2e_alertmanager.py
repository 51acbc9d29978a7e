"""A replayed outage pages through a real Alertmanager, and the page resolves after recovery.

Debian's Alertmanager runs on a free loopback port with a webhook receiver served by the
test (``send_resolved: true``), so both halves are seen from Alertmanager's side: the page
is in ``GET /api/v2/alerts`` while the budget burns and the receiver gets Alertmanager's
own "resolved" notification once the replay has recovered.

Also holds the Alertmanager process helper the exporter's tests use.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from otlp_builders import kv
from ports import free_port

from otel_perf.config import load_config
from otel_perf.decode import message_to_json
from otel_perf.exporters.alertmanager import AlertmanagerExporter
from otel_perf.findings import Finding
from otel_perf.pipeline import Pipeline
from otel_perf.sidecar.replay import replay
from otel_perf.store import Store

pytestmark = pytest.mark.e2e

BINARY = "/usr/bin/prometheus-alertmanager"
S = 1_000_000_000
MINUTE_NS = 60 * S
T = TypeVar("T")

NULL_RECEIVER = """
route: {receiver: "null"}
receivers: [{name: "null"}]
"""
WEBHOOK_RECEIVER = """
route:
  receiver: hook
  group_by: [alertname, service, objective]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{{url: "{url}", send_resolved: true}}]
"""


def wait_for(predicate: Callable[[], T | None], what: str, timeout_s: float = 20.0) -> T:
    """Poll ``predicate`` until it returns something truthy, or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Alertmanager:
    """A running Alertmanager on loopback, clustering off, state in its own directory."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alerts(self, query: str = "") -> list[dict[str, Any]]:
        """``GET /api/v2/alerts`` (the v2 API shows alerts whose endsAt is in the future)."""
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts{query}", timeout=5) as resp:
            body: list[dict[str, Any]] = json.loads(resp.read())
            return body

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_alertmanager(
    workdir: Path, port: int | None = None, config: str = NULL_RECEIVER
) -> Alertmanager:
    """Start Debian's Alertmanager and wait until ``/-/ready`` answers."""
    assert shutil.which(BINARY), f"{BINARY} missing: run .ci/services.sh"
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "alertmanager.yml").write_text(config)
    log_path = workdir / f"alertmanager-{port}.log"
    command = [
        BINARY,
        f"--config.file={workdir / 'alertmanager.yml'}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--storage.path={workdir / 'data'}",
        "--cluster.listen-address=",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    manager = Alertmanager(port, process, log_path)

    def ready() -> bool:
        assert process.poll() is None, f"alertmanager exited:\n{manager.log()}"
        try:
            with urllib.request.urlopen(f"{manager.url}/-/ready", timeout=1) as resp:
                return resp.status == 200
        except OSError:
            return False

    try:
        wait_for(ready, "alertmanager to be ready")
    except BaseException:
        manager.stop()
        raise
    return manager


@dataclass
class Webhook:
    """An HTTP server receiving Alertmanager's webhook notifications."""

    server: HTTPServer
    received: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def notifications(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.received)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook: Webhook

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with hook.lock:
                hook.received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    hook = Webhook(HTTPServer(("127.0.0.1", 0), Handler))
    thread = threading.Thread(target=hook.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


# -- the replayed outage ------------------------------------------------------------
CONFIG = """
receivers: {{otlp: {{}}}}
processors:
  slo:
    defaults: {{enabled: false}}
    objectives: [{{name: shop, service: shop, availability: 0.999}}]
    min_events: 0
    evaluation_interval: 10s
exporters:
  alertmanager:
    endpoint: "{endpoint}"
    kinds: [burn_rate_alert]
    resend_interval: 1m
    initial_backoff: 100ms
    generator_url: "http://127.0.0.1:8080"
service:
  tick_interval: 10s
  pipelines:
    traces: {{receivers: [otlp], processors: [slo], exporters: [alertmanager]}}
"""
PER_MINUTE = 20


def minutes(start_ns: int, count: int, failing: bool) -> list[str]:
    """One OTLP/JSON line per minute of ``PER_MINUTE`` server spans of ``shop``."""
    lines = []
    for m in range(count):
        request = ExportTraceServiceRequest()
        rs = request.resource_spans.add()
        rs.resource.attributes.append(kv("service.name", "shop"))
        ss = rs.scope_spans.add()
        for i in range(PER_MINUTE):
            span = ss.spans.add()
            span.trace_id = (m * PER_MINUTE + i + 1).to_bytes(16, "big")
            span.span_id = (i + 1).to_bytes(8, "big")
            span.name = "GET /cart"
            span.kind = 2  # SERVER
            span.end_time_unix_nano = start_ns + m * MINUTE_NS + (i + 1) * MINUTE_NS // 21
            span.start_time_unix_nano = span.end_time_unix_nano - 20_000_000
            span.attributes.append(kv("http.route", "/cart"))
            if failing:
                span.status.code = 2  # ERROR
        lines.append(json.dumps(message_to_json(request)))
    return lines


def notified(hook: Webhook, status: str) -> list[dict[str, Any]]:
    """Alerts of ``status`` in the notifications Alertmanager has sent the webhook."""
    return [a for n in hook.notifications() for a in n["alerts"] if a["status"] == status]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def burn_rate_alerts(manager: Alertmanager, severity: str) -> list[dict[str, Any]]:
    return [
        a
        for a in manager.alerts("?active=true")
        if a["labels"]["alertname"] == "OtelPerfBurnRate" and a["labels"]["severity"] == severity
    ]


def transitions(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.attributes["alert"], f.state.value) for f in findings if f.kind == "burn_rate_alert"]


def test_replayed_outage_pages_and_resolves_in_alertmanager(
    tmp_path: Path, webhook: Webhook
) -> None:
    manager = start_alertmanager(tmp_path / "am", config=WEBHOOK_RECEIVER.format(url=webhook.url))
    try:
        # event time ends a few minutes before now, so the replayed alerts are recent
        t0 = (time.time_ns() // MINUTE_NS - 110) * MINUTE_NS
        outage = write(
            tmp_path / "outage.jsonl",
            minutes(t0, 60, failing=False) + minutes(t0 + 60 * MINUTE_NS, 3, failing=True),
        )
        recovery = write(tmp_path / "recovery.jsonl", minutes(t0 + 63 * MINUTE_NS, 40, False))
        pipeline = Pipeline(
            load_config(text=CONFIG.format(endpoint=manager.url)), Store(":memory:")
        )
        pipeline.start(worker=False)
        exporter = pipeline.exporters["alertmanager"]
        assert isinstance(exporter, AlertmanagerExporter)

        report = replay(pipeline, [outage])
        # 60 of 1 260 requests failed: the page fires; the 3-day ticket burns too, but its
        # 6 h short window was not observed (63 minutes of data), so it cannot fire yet
        assert sorted(transitions(report.findings)) == [("page", "open")]
        exporter.flush()
        (alert,) = wait_for(lambda: burn_rate_alerts(manager, "page"), "the page in Alertmanager")
        assert not burn_rate_alerts(manager, "ticket")
        assert alert["labels"] == {
            "alertname": "OtelPerfBurnRate",
            "service": "shop",
            "severity": "page",
            "objective": "shop",
            "subject": "shop page",
            "source": "slo",
            "window": "1h/5m,6h/30m",
        }
        assert alert["status"]["state"] == "active"
        assert alert["annotations"]["summary"].startswith("shop: error budget burning")
        assert alert["generatorURL"] == (
            "http://127.0.0.1:8080/performance/findings?kind=burn_rate_alert&service=shop"
        )
        wait_for(
            lambda: [n for n in notified(webhook, "firing") if n["labels"] == alert["labels"]],
            "Alertmanager's firing notification of the page",
        )

        report = replay(pipeline, [recovery])
        assert transitions(report.findings) == [("page", "resolved")]
        exporter.flush()
        wait_for(
            lambda: not burn_rate_alerts(manager, "page"), "the page to leave the active alerts"
        )
        (item,) = wait_for(
            lambda: [n for n in notified(webhook, "resolved") if n["labels"] == alert["labels"]],
            "Alertmanager's resolved notification of the page",
        )
        assert item["endsAt"] > item["startsAt"]
        assert exporter.stats()["posts_failed"] == 0
        pipeline.shutdown(timeout=10)
    finally:
        manager.stop()
