"""Benchmarks and regression tests through the REST API and the CLI, against a tiny HTTP
server on loopback; targets outside the allow-list are refused before any connection."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from otel_perf.api.app import API
from otel_perf.cli.commands import main
from otel_perf.config import load_config
from otel_perf.config.models import APISettings, AuthSettings
from otel_perf.pipeline import Pipeline
from otel_perf.processors.regression import benchmark_runner
from otel_perf.runtime.serving import ServerThread
from otel_perf.store import Store

CONFIG = """
receivers: {otlp: {}}
processors:
  regression:
    min_samples: 20
    benchmark:
      callables: {clock: "time:perf_counter"}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [regression]}
"""


class _Handler(BaseHTTPRequestHandler):
    hits = 0  # requests served, warm-up included (one thread per request: under a lock)
    lock = threading.Lock()

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        with _Handler.lock:
            _Handler.hits += 1
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def target() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/work"
    server.shutdown()
    server.server_close()


@pytest.fixture
def pipeline() -> Iterator[Pipeline]:
    pipe = Pipeline(load_config(text=CONFIG), Store(":memory:"), clock=lambda: 1)
    pipe.start(worker=False)
    yield pipe
    pipe.shutdown()


@contextmanager
def api(pipeline: Pipeline, token: str | None = None) -> Iterator[httpx.Client]:
    auth = AuthSettings(bearer_token=token) if token else None  # type: ignore[arg-type]
    server = ServerThread(API(pipeline, APISettings(auth=auth)).app(), "127.0.0.1", 0, "api")
    port = server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            yield http
    finally:
        server.stop()


def test_benchmark_through_the_api_first_run_is_the_baseline(
    pipeline: Pipeline, target: str
) -> None:
    body = {"name": "work", "url": target, "iterations": 40, "warmup": 2, "concurrency": 2}
    with api(pipeline) as http:
        first = http.post("/performance/benchmark/run", json=body)
        assert first.status_code == 200, first.text
        first_data = first.json()
        assert first_data["baseline_established"] and first_data["errors"] == 0
        stats = first_data["statistics"]
        assert stats["count"] == 40 and stats["mean_ci_ms"][0] <= stats["mean_ms"]
        assert {"p50_ms", "p95_ms", "p99_ms", "outliers"} <= set(stats)
        second = http.post("/performance/benchmark/run", json=body).json()
        assert not second["baseline_established"]
        assert second["run"]["outcome"] in {"pass", "regression", "improvement"}
        assert second["run"]["source"] == "benchmark"
        analysis = http.get("/performance/regression/analysis").json()
        assert analysis["baselines"][0]["name"] == "work"
        assert analysis["baselines"][0]["runs"] == 1
        http.post("/performance/benchmark/run", json=body)
        http.post("/performance/benchmark/run", json=body)
        trend = http.get("/performance/trends/work").json()
        assert trend["trend"]["n"] == 3 and len(trend["points"]) == 3
        assert http.get("/performance/trends/nothing").status_code == 404


def test_a_request_without_warmup_warms_up_as_the_cli_does(pipeline: Pipeline, target: str) -> None:
    with api(pipeline) as http:
        for body, calls in (
            ({"iterations": 20}, 20 + benchmark_runner.default_warmup(20)),
            ({"iterations": 20, "warmup": 0}, 20),  # cold on purpose, when asked
            ({}, 100 + benchmark_runner.default_warmup(100)),
        ):
            before = _Handler.hits
            ran = http.post("/performance/benchmark/run", json={"name": "w", "url": target, **body})
            assert ran.status_code == 200, ran.text
            assert _Handler.hits - before == calls, body
            assert ran.json()["statistics"]["count"] == body.get("iterations", 100)


def test_target_outside_the_allow_list_is_refused_before_connecting(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_call(*args: object) -> object:
        raise AssertionError("a refused target must not be contacted")

    monkeypatch.setattr(benchmark_runner, "http_call", no_call)
    monkeypatch.setattr(benchmark_runner, "run", no_call)
    with api(pipeline) as http:
        for url in ("http://10.0.0.1/", "http://127.0.0.1.example.com:80/", "file:///etc/passwd"):
            refused = http.post("/performance/benchmark/run", json={"name": "x", "url": url})
            assert refused.status_code == 403, (url, refused.text)
            assert "allowed_targets" in refused.json()["error"] or "http" in refused.json()["error"]
        refused = http.post(
            "/performance/benchmark/run", json={"name": "x", "callable": "os:getcwd"}
        )
        assert refused.status_code == 403 and "not registered" in refused.json()["error"]
        assert http.post("/performance/benchmark/run", json={"name": "x"}).status_code == 400
        assert http.get("/performance/regression/analysis").json()["baselines"] == []


def test_write_routes_need_the_token(pipeline: Pipeline) -> None:
    with api(pipeline, token="s3cret") as http:
        body = {"name": "b", "samples_ms": [1.0, 2.0]}
        assert http.post("/performance/regression/baselines", json=body).status_code == 401
        assert http.post("/performance/benchmark/run", json=body).status_code == 401
        auth = {"Authorization": "Bearer s3cret"}
        made = http.post("/performance/regression/baselines", json=body, headers=auth)
        assert made.status_code == 201


def test_baseline_and_test_routes(pipeline: Pipeline) -> None:
    baseline = [100.0 + (i % 10) for i in range(50)]
    slower = [130.0 + (i % 10) for i in range(50)]
    with api(pipeline) as http:
        missing = http.post("/performance/regression/tests", json={"name": "b", "samples_ms": [1]})
        assert missing.status_code == 404
        body = {"name": "b", "samples_ms": baseline}
        assert http.post("/performance/regression/baselines", json=body).status_code == 201
        verdict = http.post(
            "/performance/regression/tests", json={"name": "b", "samples_ms": slower}
        ).json()
        assert verdict["outcome"] == "regression" and verdict["hl_low"] > 0
        few = http.post("/performance/regression/tests", json={"name": "b", "samples_ms": [1.0]})
        assert few.json()["outcome"] == "inconclusive"
        assert "/performance/benchmark/run" in http.get("/performance/openapi.json").json()["paths"]


def test_benchmark_through_the_cli(
    pipeline: Pipeline, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with api(pipeline) as http:
        base = str(http.base_url).rstrip("/")
        args = ["benchmark", "cli", "--iterations", "30", "--url", target, "--api", base]
        assert main([*args, "-o", "json"]) == 0
        first = json.loads(capsys.readouterr().out)
        assert first["baseline_established"] and first["statistics"]["count"] == 30
        assert main([*args, "--remote", "-o", "json"]) in (0, 1)
        second = json.loads(capsys.readouterr().out)
        assert second["run"]["verdict"]["n_current"] == 30
        assert main(["regression", "--api", base]) == 0
        assert "cli" in capsys.readouterr().out
        assert main(["trends", "cli", "--api", base, "-o", "json"]) == 0
        assert json.loads(capsys.readouterr().out)["trend"]["n"] == 1
        refused = ["benchmark", "x", "--url", "http://10.0.0.1/", "--remote", "--api", base]
        assert main(refused) == 1
        assert "allowed_targets" in capsys.readouterr().err


def test_registered_callable_runs_in_the_sidecar(pipeline: Pipeline) -> None:
    with api(pipeline) as http:
        for spec in ("clock", "time:perf_counter"):  # by name or by module:function
            body = {"name": "fn", "callable": spec, "iterations": 25}
            data = http.post("/performance/benchmark/run", json=body).json()
            assert data["statistics"]["count"] == 25 and data["errors"] == 0, data


def test_malformed_and_enormous_bodies_are_refused(pipeline: Pipeline) -> None:
    def chunks() -> Iterator[bytes]:  # streamed, no Content-Length: counted as it arrives
        for _ in range(17):
            yield b"0" * (1024 * 1024)

    with api(pipeline) as http:
        url = "/performance/regression/baselines"
        assert http.post(url, content=b"{nope").status_code == 400
        missing = http.post(url, json={"name": "x"})
        assert missing.status_code == 400 and "samples_ms" in missing.text
        assert http.post(url, content=chunks()).status_code == 413
        assert http.get("/performance/regression/analysis").json()["baselines"] == []
