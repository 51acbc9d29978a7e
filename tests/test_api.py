"""The REST API served by uvicorn on a loopback port: routes, auth, OpenAPI."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from otlp_builders import trace_request

from otel_perf.api import API
from otel_perf.config import load_config
from otel_perf.config.models import APISettings, AuthSettings
from otel_perf.decode import Decoder
from otel_perf.pipeline import Pipeline
from otel_perf.serving import ServerThread
from otel_perf.store import Store

CONFIG = """
receivers: {otlp: {}}
processors: {recording: {emit_every_tick: true}}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [recording]}
"""


@pytest.fixture
def pipeline() -> Iterator[Pipeline]:
    pipe = Pipeline(load_config(text=CONFIG), Store(":memory:"), clock=lambda: 1)
    pipe.start(worker=False)
    batch, _ = Decoder().spans(trace_request(spans=3))
    pipe.process(batch)
    pipe.tick(10)
    yield pipe
    pipe.shutdown()


@contextmanager
def client(pipeline: Pipeline, token: str | None = None) -> Iterator[httpx.Client]:
    auth = AuthSettings(bearer_token=token) if token else None  # type: ignore[arg-type]
    server = ServerThread(API(pipeline, APISettings(auth=auth)).app(), "127.0.0.1", 0, "api")
    port = server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            yield http
    finally:
        server.stop()


def test_metrics_and_health(pipeline: Pipeline) -> None:
    with client(pipeline) as api:
        metrics = api.get("/performance/metrics").json()
        assert metrics["processed"]["spans"] == 3
        assert metrics["services"]["counts"] == {"checkout": 3}
        health = api.get("/performance/health").json()
        assert health["status"] == "ok" and health["processors"] == ["recording"]


def test_findings_filters_and_validation(pipeline: Pipeline) -> None:
    with client(pipeline) as api:
        found = api.get("/performance/findings", params={"kind": "bottleneck_identified"}).json()
        assert found["findings"][0]["service"] == "checkout"
        assert api.get("/performance/findings", params={"kind": "nope"}).status_code == 400
        assert api.get("/performance/findings", params={"limit": "x"}).status_code == 400
        assert api.get("/performance/findings", params={"limit": "0"}).status_code == 400


def test_bearer_token(pipeline: Pipeline) -> None:
    with client(pipeline, token="s3cret") as api:
        assert api.get("/performance/metrics").status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert api.get("/performance/metrics", headers=wrong).status_code == 401
        right = {"Authorization": "Bearer s3cret"}
        assert api.get("/performance/metrics", headers=right).status_code == 200
        assert api.get("/performance/health").status_code == 200  # probes stay open


def test_openapi_document_lists_every_route(pipeline: Pipeline) -> None:
    with client(pipeline) as api:
        document = api.get("/performance/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert {"/performance/health", "/performance/metrics", "/performance/findings"} <= set(
        document["paths"]
    )
    assert "Finding" in document["components"]["schemas"]
