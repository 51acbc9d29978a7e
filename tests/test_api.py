"""The REST API served by uvicorn on a loopback port: routes, auth, OpenAPI."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from otlp_builders import trace_request

from otel_perf.api.app import API, openapi_document
from otel_perf.config import load_config
from otel_perf.config.models import APISettings, AuthSettings
from otel_perf.decode import Decoder
from otel_perf.pipeline import Pipeline
from otel_perf.runtime.serving import ServerThread
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


def test_component_routes_answer_without_their_processor(pipeline: Pipeline) -> None:
    """The slo, anomaly and bottlenecks routes (and span metrics' part of the metrics) come
    from their surfaces, mounted whatever the config: empty views, or a 404 naming what is
    missing."""
    with client(pipeline) as api:
        assert api.get("/performance/slo").json() == {"objectives": []}
        assert api.get("/performance/anomalies").json() == {"processors": {}}
        metrics = api.get("/performance/metrics").json()
        assert "red" not in metrics and "spanmetrics" not in metrics
        missing = api.get("/performance/bottlenecks")
        assert missing.status_code == 404
        assert missing.json() == {
            "error": "no bottlenecks (or aggregates) processor in this pipeline's config"
        }
        for raw, message in (
            ("x", "query parameter limit must be an integer"),
            ("0", "query parameter limit: must be between 1 and 1000"),
        ):
            bad = api.get("/performance/bottlenecks", params={"limit": raw})
            assert (bad.status_code, bad.json()) == (400, {"error": message})


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


def test_every_mounted_route_is_documented_and_every_documented_path_is_mounted(
    pipeline: Pipeline,
) -> None:
    from starlette.routing import Route

    app = API(pipeline, APISettings()).app()
    mounted = {
        (re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path), method.lower())  # {name:path}
        for route in app.routes
        if isinstance(route, Route) and route.path.startswith("/performance/")
        for method in route.methods or ()
        if method != "HEAD"
    }
    mounted.discard(("/performance/openapi.json", "get"))  # the document itself
    document = openapi_document()
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert mounted == documented
    # the core's, and those the processors contribute through their factory
    assert {"/performance/health", "/performance/incidents/{id}"} <= {p for p, _ in mounted}
    assert {"/performance/cache/warmup", "/performance/benchmark/run"} <= {p for p, _ in mounted}
    assert ("/performance/capacity/autoscaling-config", "post") in mounted
    assert {"/performance/slo", "/performance/anomalies", "/performance/bottlenecks"} <= {
        p for p, _ in mounted
    }


TRACE_CONFIG = """
receivers: {otlp: {}}
processors:
  spanmetrics: {late_grace: 0s}
  bottlenecks: {trace_quiet_time: 0s, evaluation_interval: 1m, min_traces: 1}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [spanmetrics, bottlenecks]}
"""


@pytest.fixture
def traced() -> Iterator[Pipeline]:
    from trace_builder import db, span

    from otel_perf.model import SpanBatch, SpanKind

    pipe = Pipeline(load_config(text=TRACE_CONFIG), Store(":memory:"), clock=lambda: 1)
    pipe.start(worker=False)
    spans = [
        span(
            "root",
            None,
            0,
            100,
            name="GET /orders",
            kind=SpanKind.SERVER,
            attrs={"http.route": "/orders", "http.request.method": "GET"},
        )
    ]
    spans += [
        db(f"q{i}", "root", 10 + 8 * i, 17 + 8 * i, f"SELECT * FROM items WHERE id = {i}")
        for i in range(10)
    ]
    pipe.process(SpanBatch(spans))
    last_end = max(s.end_ns for s in spans)
    pipe.tick(last_end + 60 * 10**9)
    yield pipe
    pipe.shutdown()


def test_metrics_carry_red_per_operation(traced: Pipeline) -> None:
    with client(traced) as api:
        body = api.get("/performance/metrics", params={"service": "app"}).json()
        one = api.get("/performance/metrics", params={"service": "app", "limit": "1"}).json()
        other = api.get("/performance/metrics", params={"service": "nobody"}).json()
    assert len(body["red"]) >= 2 and len(one["red"]) == 1 and other["red"] == []
    rows = {r["operation"]: r for r in body["red"]}
    assert rows["GET /orders"]["calls"] == 1
    assert rows["GET /orders"]["p50_ms"] == pytest.approx(100, rel=0.01)
    assert body["spanmetrics"]["spanmetrics"]["series"] >= 2


def test_bottlenecks_route_and_cli(traced: Pipeline, capsys: pytest.CaptureFixture[str]) -> None:
    from otel_perf.cli.commands import main

    with client(traced) as api:
        body = api.get("/performance/bottlenecks").json()
        assert body["ranking"][0]["critical_path_share"] > 0
        assert body["patterns"][0]["pattern"] == "n_plus_one"
        assert api.get("/performance/bottlenecks", params={"limit": "x"}).status_code == 400
        url = str(api.base_url)
        assert main(["bottlenecks", "--api", url, "-o", "json"]) == 0
        assert json.loads(capsys.readouterr().out)["patterns"][0]["max_calls"] == 10
        assert main(["bottlenecks", "--api", url]) == 0
        assert "n_plus_one" in capsys.readouterr().out
        assert main(["metrics", "--api", url]) == 0
        assert "GET /orders" in capsys.readouterr().out


SLO_CONFIG = """
receivers: {otlp: {}}
processors:
  slo:
    defaults: {enabled: false}
    min_events: 0
    objectives: [{name: shop, service: app, availability: 0.999}]
service:
  pipelines:
    traces: {receivers: [otlp], processors: [slo]}
"""


def test_slo_route_health_and_cli(capsys: pytest.CaptureFixture[str]) -> None:
    from trace_builder import span

    from otel_perf.cli.commands import main
    from otel_perf.model import SpanBatch, SpanKind

    pipe = Pipeline(load_config(text=SLO_CONFIG), Store(":memory:"), clock=lambda: 1)
    pipe.start(worker=False)
    for minute in range(7):  # watched for seven quiet minutes: the burn-rate windows are observed
        pipe.tick(minute * 60 * 10**9)
    t0 = 7 * 60_000  # ms
    failing = [
        span(i, None, t0 + i * 100, t0 + i * 100 + 20, kind=SpanKind.SERVER, status=2)
        for i in range(1, 30)
    ]
    pipe.process(SpanBatch(failing))
    pipe.tick(max(s.end_ns for s in failing) + 10**9)
    try:
        with client(pipe) as api:
            (objective,) = api.get("/performance/slo").json()["objectives"]
            assert objective["budget"]["sli"] == 0.0
            assert (
                "error budget remaining"
                in objective["budget"]["formulas"]["error_budget_remaining"]
            )
            health = api.get("/performance/health").json()
            assert health["status"] == "critical"
            reason = {"source": "slo", "status": "critical", "text": "shop: burn-rate page firing"}
            assert reason in health["reasons"]
            url = str(api.base_url)
            assert main(["slo", "--api", url]) == 0
            assert "shop" in capsys.readouterr().out
            assert main(["health", "--api", url]) == 2
    finally:
        pipe.shutdown()
