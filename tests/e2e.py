"""Start otel-perf as a real process on loopback ports, wait for it, stop it cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ports import free_port

#: the OTLP/gRPC trace export method, for tests that send raw protobuf requests
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

HERE = Path(__file__).parent

#: the OTLP receiver on the ports ``start_sidecar`` picks (a ``str.format`` template, as every
#: config here is); a test's config starts with it
RECEIVERS = """
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc}"}}
      http: {{endpoint: "127.0.0.1:{http}"}}
"""

DEFAULT = (
    RECEIVERS
    + """\
extensions:
  api: {{endpoint: "127.0.0.1:{api}"}}
service:
  extensions: [api]
  pipelines:
    traces: {{receivers: [otlp]}}
    metrics: {{receivers: [otlp]}}
    logs: {{receivers: [otlp]}}
"""
)


@dataclass
class SidecarProcess:
    """A running ``otel-perf run`` with its ports."""

    process: subprocess.Popen[bytes]
    grpc: int
    http: int
    api: int
    log_path: Path
    store: Path

    @property
    def grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.grpc}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http}"

    def get(self, path: str, token: str | None = None) -> Any:
        request = urllib.request.Request(f"http://127.0.0.1:{self.api}{path}")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)

    def metrics(self) -> Any:
        return self.get("/performance/metrics")

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> Any:
        """Poll /performance/metrics until predicate(metrics) is true."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = self.metrics()
            if predicate(last):
                return last
            time.sleep(0.05)
        raise AssertionError(f"condition not met within {timeout}s; last metrics: {last}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_sidecar(
    tmp_path: Path,
    config: str | None = None,
    *,
    store: Path | None = None,
    ports: dict[str, int] | None = None,
    **env: str,
) -> SidecarProcess:
    """Start otel-perf with ``config`` (format fields grpc/http/api/tmp) and wait for health.

    ``store`` and ``ports`` default to new ones; a restart passes the old ones back.
    """
    ports = ports or {"grpc": free_port(), "http": free_port(), "api": free_port()}
    text = textwrap.dedent(config or DEFAULT).format(tmp=tmp_path, **ports)
    config_path = tmp_path / f"otel-perf-{ports['api']}.yaml"
    config_path.write_text(text)
    store = store or tmp_path / f"store-{ports['api']}.db"
    log_path = tmp_path / f"otel-perf-{ports['api']}.log"
    environment = {**os.environ, "PYTHONPATH": str(HERE), **env}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "sidecar_main.py"),
                "run",
                "--config",
                str(config_path),
                "--store",
                str(store),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
        )
    sidecar = SidecarProcess(process, store=store, log_path=log_path, **ports)
    _wait_healthy(sidecar)
    return sidecar


def _wait_healthy(sidecar: SidecarProcess, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not sidecar.alive():
            raise AssertionError(f"otel-perf exited early:\n{sidecar.log()}")
        try:
            sidecar.get("/performance/health")
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.05)
    sidecar.stop()
    raise AssertionError(f"otel-perf did not become healthy:\n{sidecar.log()}")


# -- apps under opentelemetry-instrument ------------------------------------------------
ROOT = HERE.parent
BIN = Path(sys.executable).parent


def start_instrumented_app(
    module: str, sidecar: SidecarProcess, port: int, log: Path, **env: str
) -> subprocess.Popen[bytes]:
    """``examples/<module>.py``'s ``app`` under uvicorn and opentelemetry-instrument,
    exporting traces to ``sidecar`` over gRPC; ``env`` adds or overrides variables."""
    environment = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{sidecar.grpc_endpoint}",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        **env,
    }
    command = [
        str(BIN / "opentelemetry-instrument"),
        str(BIN / "uvicorn"),
        f"{module}:app",
        "--app-dir",
        str(ROOT / "examples"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    with log.open("wb") as out:
        return subprocess.Popen(command, env=environment, stdout=out, stderr=subprocess.STDOUT)


def http_status(url: str, timeout: float = 10.0) -> int:
    """GET ``url``; the status code, also for 4xx/5xx answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_app(url: str, app: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    """Poll ``url`` until the app answers; fail with its log if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert app.poll() is None, log.read_text()
        try:
            http_status(url)
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError(f"app did not start:\n{log.read_text()}")


def poll(
    read: Callable[[], Any],
    ok: Callable[[Any], bool],
    timeout: float = 60.0,
    what: str = "condition",
    every: float = 0.2,
) -> Any:
    """``read()`` until ``ok`` holds for its answer (returned), else fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = read()
        if ok(last):
            return last
        time.sleep(every)
    raise AssertionError(f"{what} not met within {timeout}s; last: {last}")


def send_traces(sidecar: SidecarProcess, payloads: list[bytes]) -> None:
    """Export serialized ExportTraceServiceRequests to ``sidecar`` over gRPC, in order."""
    import grpc

    with grpc.insecure_channel(sidecar.grpc_endpoint) as channel:
        export = channel.unary_unary(EXPORT)
        for payload in payloads:
            export(payload, timeout=10)
