"""A Starlette app run by uvicorn under `opentelemetry-instrument`, hit with real HTTP
requests, shows up in otel-perf by service and route."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e import SidecarProcess, http_status, start_instrumented_app, start_sidecar, wait_app
from ports import free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[SidecarProcess]:
    process = start_sidecar(tmp_path)
    yield process
    assert process.stop() == 0, process.log()


def start_app(sidecar: SidecarProcess, port: int, log: Path) -> subprocess.Popen[bytes]:
    return start_instrumented_app(
        "asgi_app",
        sidecar,
        port,
        log,
        OTEL_SERVICE_NAME="shop",
        OTEL_RESOURCE_ATTRIBUTES="service.version=3.1.0,deployment.environment.name=test",
    )


get = http_status
wait_up = wait_app


def test_instrumented_app_shows_up_by_service_and_route(
    sidecar: SidecarProcess, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "app.log"
    app = start_app(sidecar, port, log)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_up(f"{base}/cart", app, log)
        statuses = [get(f"{base}/items/{i}") for i in range(1, 6)] + [get(f"{base}/items/0")]
        statuses += [get(f"{base}/cart") for _ in range(3)]
        assert statuses == [200] * 5 + [500] + [200] * 3
    finally:
        app.terminate()  # SIGTERM: the SDK flushes its span processor on exit
        app.wait(30)
    metrics = sidecar.wait_for(
        lambda m: sum(n for r, n in m["routes"]["counts"].items() if "/items/" in r) >= 6
    )
    routes = metrics["routes"]["counts"]
    assert routes.get("shop GET /items/{item_id:int}", 0) >= 6, routes
    assert routes["shop GET /cart"] >= 3, routes
    assert metrics["services"]["counts"]["shop"] >= 9
