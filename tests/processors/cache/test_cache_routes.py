"""The /performance/cache/* routes over real sockets: stats and recommendations from
telemetry; invalidate and warm-up forwarded to a real app's control endpoints (a real
``otel_perf.cache`` cache), refused without auth, bad bodies named, unreachable apps."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from ports import free_port
from rich.console import Console
from starlette.applications import Starlette
from starlette.routing import Mount
from trace_builder import db, span

from otel_perf.api.app import API
from otel_perf.cache import Cache, configure_cache
from otel_perf.cache.control import cache_control_app
from otel_perf.config import load_config
from otel_perf.config.models import APISettings, AuthSettings
from otel_perf.model import SpanBatch
from otel_perf.pipeline import Pipeline
from otel_perf.processors.cache.report import print_report
from otel_perf.runtime.serving import ServerThread
from otel_perf.store import Store

API_TOKEN = "api-secret"
APP_TOKEN = "app-secret"
NS = 1_000_000_000

CONFIG = """
receivers: {{otlp: {{}}}}
processors:
  cache:
    apps:
      - {{name: shop, endpoint: "http://127.0.0.1:{app}/_otel_perf/cache", token: {token}}}
      - {{name: gone, endpoint: "http://127.0.0.1:{closed}/_otel_perf/cache", token: t,
          timeout: 2s}}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [cache]}}
"""


@contextmanager
def serve(app: Any) -> Iterator[int]:
    server = ServerThread(app, "127.0.0.1", 0, "test-server")
    port = server.start()
    try:
        yield port
    finally:
        server.stop()


@pytest.fixture
def shop_cache() -> Cache:
    cache = configure_cache("routes_test", default_ttl=60.0)
    cache.register_warmup(lambda: [("product:1", {"id": 1}), ("product:2", {"id": 2})])
    return cache


@contextmanager
def sidecar(shop_cache: Cache, token: str | None = API_TOKEN) -> Iterator[httpx.Client]:
    control = cache_control_app(APP_TOKEN, caches=lambda: {"routes_test": shop_cache})
    with serve(Starlette(routes=[Mount("/_otel_perf/cache", control)])) as app_port:
        text = CONFIG.format(app=app_port, token=APP_TOKEN, closed=free_port())
        pipeline = Pipeline(load_config(text=text), Store(":memory:"), clock=lambda: 1)
        pipeline.start(worker=False)
        auth = AuthSettings(bearer_token=token) if token else None  # type: ignore[arg-type]
        try:
            with serve(API(pipeline, APISettings(auth=auth)).app()) as api_port:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                base = f"http://127.0.0.1:{api_port}"
                with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
                    client.pipeline = pipeline  # type: ignore[attr-defined]
                    yield client
        finally:
            pipeline.shutdown()


def test_stats_and_optimizations_from_telemetry(shop_cache: Cache) -> None:
    with sidecar(shop_cache) as api:
        spans = [
            span(
                f"g{i}",
                None,
                i,
                i + 1,
                name="cache.get",
                service="shop",
                attrs={"cache.name": "users", "cache.key": "user:1", "cache.hit": i % 5 != 0},
            )
            for i in range(10)
        ]
        spans += [
            db(
                f"q{i}",
                None,
                i * 1000,
                i * 1000 + 200,
                "SELECT * FROM t WHERE id = 3",
                service="shop",
            )
            for i in range(20)
        ]
        pipeline: Pipeline = api.pipeline  # type: ignore[attr-defined]
        pipeline.process(SpanBatch(spans))
        pipeline.tick(21 * NS)
        stats = api.get("/performance/cache/stats", params={"service": "shop"}).json()
        (users,) = stats["caches"]
        assert (users["hits"], users["misses"], users["hit_ratio"]) == (8, 2, 0.8)
        assert api.get("/performance/cache/stats", params={"service": "x"}).json()["caches"] == []
        found = api.get("/performance/cache/optimizations").json()["recommendations"]
        assert [r["attributes"]["recommendation"] for r in found] == ["cacheable_query"]
        assert (
            "/performance/cache/invalidate" in api.get("/performance/openapi.json").json()["paths"]
        )
        out = io.StringIO()
        report = {"stats": stats, "optimizations": {"recommendations": found}}
        print_report(Console(file=out, width=250), report)
        assert "users" in out.getvalue() and "80.0%" in out.getvalue()
        assert "cacheable_query" in out.getvalue()


def test_invalidate_and_warmup_reach_the_app(shop_cache: Cache) -> None:
    with sidecar(shop_cache) as api:
        warmed = api.post("/performance/cache/warmup", json={"app": "shop"})
        assert warmed.status_code == 200, warmed.text
        assert warmed.json() == {
            "apps": {"shop": {"status": 200, "body": {"warmed": {"routes_test": 2}}}}
        }
        assert asyncio.run(shop_cache.get("product:1")) == {"id": 1}
        gone = api.post(
            "/performance/cache/invalidate",
            json={"app": "shop", "cache": "routes_test", "keys": ["product:1"]},
        )
        assert gone.json()["apps"]["shop"] == {
            "status": 200,
            "body": {"invalidated": {"routes_test": 1}},
        }
        assert asyncio.run(shop_cache.get("product:1")) is None
        assert asyncio.run(shop_cache.get("product:2")) == {"id": 2}


def test_every_app_is_asked_and_an_unreachable_one_is_a_502(shop_cache: Cache) -> None:
    with sidecar(shop_cache) as api:
        reply = api.post("/performance/cache/invalidate", json={"patterns": ["product:*"]})
        assert reply.status_code == 502
        apps = reply.json()["apps"]
        assert apps["shop"]["status"] == 200
        assert apps["gone"]["status"] is None and "cannot reach" in apps["gone"]["error"]


def test_control_needs_a_token(shop_cache: Cache) -> None:
    with sidecar(shop_cache) as api:
        bare = httpx.post(f"{api.base_url}/performance/cache/warmup", json={})
        assert bare.status_code == 401
    with sidecar(shop_cache, token=None) as open_api:
        refused = open_api.post("/performance/cache/warmup", json={"app": "shop"})
        assert refused.status_code == 403
        assert refused.json()["error"] == "cache control needs extensions.api.auth.bearer_token"
        assert asyncio.run(shop_cache.get("product:1")) is None  # nothing reached the app


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "request body is not JSON"),
        (b"[]", 400, "body: Input should be a valid dictionary"),
        (b'{"tags": []}', 400, "at least one of tags, patterns, keys must be a non-empty list"),
        (b'{"tags": "a"}', 400, "tags: Input should be a valid list"),
        (b'{"keys": ["ok", 7]}', 400, "keys.1: Input should be a valid string"),
        (b'{"keys": [""]}', 400, "keys.0: String should have at least 1 character"),
        (b'{"keys": ["a"], "tag": ["x"]}', 400, "tag: Extra inputs are not permitted"),
        (b'{"keys": ["a"], "app": "nope"}', 404, 'app: no app named "nope"'),
    ],
)
def test_malformed_invalidate_bodies_get_clear_errors(
    shop_cache: Cache, body: bytes, status: int, message: str
) -> None:
    with sidecar(shop_cache) as api:
        reply = api.post("/performance/cache/invalidate", content=body)
        assert reply.status_code == status
        assert message in reply.json()["error"]


def test_bodies_are_capped_as_they_arrive(shop_cache: Cache) -> None:
    with sidecar(shop_cache) as api:

        def chunks() -> Iterator[bytes]:
            yield b'{"keys": ["'
            for _ in range(17):
                yield b"x" * (1024 * 1024)

        reply = api.post("/performance/cache/invalidate", content=chunks())
        assert reply.status_code == 413
