"""examples/cache_app.py (otel_perf.cache) run by uvicorn under opentelemetry-instrument
exports to a real otel-perf: the cache's hit ratio appears in /performance/cache/stats;
invalidate and warm-up through the sidecar reach the app (its lookups count shows it)
and are refused without the token; malformed bodies get clear errors; the CLI reads it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e import RECEIVERS, SidecarProcess, poll, start_instrumented_app, start_sidecar, wait_app
from ports import free_port

from otel_perf.cli.commands import main

pytestmark = pytest.mark.e2e
SERVICE = "shop-cache"
API_TOKEN = "sidecar-api-token"
APP_TOKEN = "app-control-token"

CONFIG = (
    RECEIVERS
    + """\
processors:
  cache:
    apps:
      - name: shop
        endpoint: "http://127.0.0.1:APP_PORT/_otel_perf/cache"
        token: ${{env:SHOP_CACHE_TOKEN}}
extensions:
  api:
    endpoint: "127.0.0.1:{api}"
    auth: {{bearer_token: "API_TOKEN"}}
service:
  extensions: [api]
  tick_interval: 200ms
  pipelines:
    traces: {{receivers: [otlp], processors: [cache]}}
    metrics: {{receivers: [otlp], processors: [cache]}}
"""
)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[SidecarProcess, str]]:
    app_port = free_port()
    config = CONFIG.replace("APP_PORT", str(app_port)).replace("API_TOKEN", API_TOKEN)
    sidecar = start_sidecar(tmp_path, config, SHOP_CACHE_TOKEN=APP_TOKEN)
    log = tmp_path / "app.log"
    app = start_instrumented_app(
        "cache_app",
        sidecar,
        app_port,
        log,
        CACHE_CONTROL_TOKEN=APP_TOKEN,
        OTEL_SERVICE_NAME=SERVICE,
        OTEL_METRICS_EXPORTER="otlp",
        OTEL_METRIC_EXPORT_INTERVAL="300",
    )
    try:
        base = f"http://127.0.0.1:{app_port}"
        wait_app(f"{base}/loads", app, log)
        yield sidecar, base
    finally:
        app.terminate()
        app.wait(30)
        assert sidecar.stop() == 0, sidecar.log()


def test_cache_stats_control_and_cli(
    stack: tuple[SidecarProcess, str], capsys: pytest.CaptureFixture[str]
) -> None:
    sidecar, app = stack
    api = f"http://127.0.0.1:{sidecar.api}"
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    for product_id in (1, 1, 1, 1, 2):  # 2 misses, 3 hits
        assert httpx.get(f"{app}/products/{product_id}").json()["id"] == product_id
    assert httpx.get(f"{app}/loads").json() == {"count": 2}

    def products() -> dict[str, Any] | None:
        body = httpx.get(f"{api}/performance/cache/stats?service={SERVICE}", headers=auth).json()
        return next((c for c in body["caches"] if c["cache"] == "products"), None)

    def product_prefix(c: dict[str, Any]) -> dict[str, Any]:
        return next((p for p in c["prefixes"] if p["prefix"] == "product"), {})

    # the spans of the five gets and of both loads (exported in batches) have all arrived
    stats = poll(
        products,
        lambda c: (
            c is not None
            and c["hits"] + c["misses"] >= 5
            and product_prefix(c).get("loads", 0) >= 2
        ),
    )
    assert (stats["hits"], stats["misses"]) == (3, 2), stats
    assert stats["hit_ratio"] == pytest.approx(0.6)
    # the SDK's counters (unsampled) take over from the spans once they arrive
    # (an export taken before the last request finished may arrive first — even between its
    # miss and the store of the loaded value: wait for all five counted and both entries)
    counted = poll(
        products,
        lambda c: (
            c["source"] == "metrics"
            and c["hits"] + c["misses"] >= 5
            and c["entries"].get("l1", 0) >= 2
        ),
    )
    assert (counted["hits"], counted["misses"], counted["entries"]) == (3, 2, {"l1": 2}), counted
    prefix = product_prefix(stats)
    assert prefix["misses_by_reason"] == {"absent": 2}
    assert prefix["loads"] == 2 and prefix["saved_ms"] > 3 * 15  # each hit saved a ~20 ms load

    # control through the sidecar: refused without the token, nothing reaches the app
    body = {"app": "shop", "tags": ["catalog"]}
    refused = httpx.post(f"{api}/performance/cache/invalidate", json=body)
    assert refused.status_code == 401
    assert httpx.get(f"{app}/products/1").json()["id"] == 1
    assert httpx.get(f"{app}/loads").json() == {"count": 2}  # still cached

    done = httpx.post(f"{api}/performance/cache/invalidate", json=body, headers=auth)
    assert done.status_code == 200, done.text
    shop = {"status": 200, "body": {"invalidated": {"products": 2}}}
    assert done.json() == {"apps": {"shop": shop}}
    httpx.get(f"{app}/products/1")
    assert httpx.get(f"{app}/loads").json() == {"count": 3}  # invalidated: loaded again

    warmed = httpx.post(f"{api}/performance/cache/warmup", json={"cache": "products"}, headers=auth)
    assert warmed.json()["apps"]["shop"]["body"] == {"warmed": {"products": 3}}
    httpx.get(f"{app}/products/3")
    assert httpx.get(f"{app}/loads").json() == {"count": 3}  # warmed: no load for product 3

    bad = httpx.post(f"{api}/performance/cache/invalidate", json={"tags": "catalog"}, headers=auth)
    assert bad.status_code == 400 and bad.json()["error"].startswith("tags: ")
    empty = httpx.post(f"{api}/performance/cache/invalidate", json={}, headers=auth)
    assert empty.status_code == 400 and "at least one of tags" in empty.json()["error"]

    capsys.readouterr()
    common = ["--api", api, "--token", API_TOKEN, "--output", "json"]
    assert main(["cache", "--stats", "--service", SERVICE, *common]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"stats"}
    assert any(c["cache"] == "products" for c in report["stats"]["caches"])
    assert main(["cache", "invalidate", "--key", "product:3", "--app", "shop", *common]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["apps"]["shop"]["body"] == {"invalidated": {"products": 1}}
