"""End to end: an app under opentelemetry-instrument serves v1, restarts as v2 with one
endpoint made slower; exactly one regression_detected event names that endpoint and the
version pair, and nothing else regresses."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e import (
    RECEIVERS,
    SidecarProcess,
    http_status,
    start_instrumented_app,
    start_sidecar,
    wait_app,
)
from ports import free_port

pytestmark = pytest.mark.e2e

CONFIG = (
    RECEIVERS
    + """\
processors:
  regression: {{version_window: 80, min_samples: 30, baseline_intervals: 0}}
extensions:
  api: {{endpoint: "127.0.0.1:{api}"}}
service:
  extensions: [api]
  tick_interval: 100ms
  pipelines:
    traces: {{receivers: [otlp], processors: [regression]}}
"""
)
REQUESTS = 90  # per endpoint and version: more than version_window


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[SidecarProcess]:
    process = start_sidecar(tmp_path, CONFIG)
    yield process
    assert process.stop() == 0, process.log()


def serve(sidecar: SidecarProcess, tmp_path: Path, version: str, slow_cart_ms: int) -> None:
    port = free_port()
    log = tmp_path / f"app-{version}.log"
    app = start_instrumented_app(
        "asgi_app",
        sidecar,
        port,
        log,
        OTEL_SERVICE_NAME="shop",
        OTEL_RESOURCE_ATTRIBUTES=f"service.version={version}",
        SLOW_CART_MS=str(slow_cart_ms),
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_app(f"{base}/items/1", app, log)
        for i in range(REQUESTS):
            assert http_status(f"{base}/cart") == 200
            assert http_status(f"{base}/items/{i + 1}") == 200
    finally:
        app.terminate()  # SIGTERM: the SDK flushes what it has batched
        app.wait(30)


def findings(sidecar: SidecarProcess, kind: str) -> list[dict[str, Any]]:
    return list(sidecar.get(f"/performance/findings?kind={kind}&service=shop")["findings"])


def test_a_slower_endpoint_in_the_new_version_is_the_one_regression(
    sidecar: SidecarProcess, tmp_path: Path
) -> None:
    serve(sidecar, tmp_path, "1.0", slow_cart_ms=0)
    serve(sidecar, tmp_path, "2.0", slow_cart_ms=40)
    deadline = time.monotonic() + 60
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not found:
        found = findings(sidecar, "regression_detected")
        time.sleep(0.2)
    assert len(found) == 1, found
    (regression,) = found
    text = f"{regression['subject']} {regression['summary']}"
    assert "/cart" in text and "1.0" in text and "2.0" in text, regression
    analysis = sidecar.get("/performance/regression/analysis")
    assert findings(sidecar, "improvement_detected") == []
    assert "/items" not in str(found) and analysis
