"""The regression processor's REST routes, mounted by :mod:`otel_perf.api`.

* ``GET  /performance/regression/analysis``: baselines, last verdicts, change points,
  version comparisons.
* ``POST /performance/regression/baselines`` ``{name, samples_ms}``: establish or replace.
* ``POST /performance/regression/tests`` ``{name, samples_ms}``: a run against the baseline.
* ``GET  /performance/trends/{name}``: Theil-Sen and Mann-Kendall over a test's runs or an
  operation's p95 per interval.
* ``POST /performance/benchmark/run``: run a benchmark (an allowed URL or a registered
  callable) or record a client's samples; the first run of a name becomes its baseline.

Write routes are behind the bearer token like every other route when auth is on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from otel_perf.component import PipelineView
from otel_perf.component.routes import needs_processor
from otel_perf.processors.regression.analysis import RegressionService, UnknownBaseline
from otel_perf.processors.regression.processor import RegressionProcessor
from otel_perf.processors.regression.runs import finite
from otel_perf.processors.regression.service import (
    BenchmarkRequest,
    SamplesRequest,
    TargetRefused,
    execute,
    plan,
)
from otel_perf.webbody import MAX_BODY_BYTES, error, json_body

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[Request, RegressionService], Awaitable[Response]]


class RegressionRoutes:
    """Handlers over the service of the pipeline's first ``regression`` processor."""

    def __init__(self, pipeline: PipelineView) -> None:
        self.pipeline = pipeline

    async def _body(self, request: Request, model: type[M]) -> M | Response:
        return await json_body(request, model, MAX_BODY_BYTES)

    async def analysis(self, request: Request, service: RegressionService) -> Response:
        return JSONResponse({"processor": service.source, **service.analysis()})

    async def trends(self, request: Request, service: RegressionService) -> Response:
        name = request.path_params["name"]
        found = await run_in_threadpool(service.trend_of, name)
        if found is None:
            return error(404, f'no runs and no series named "{name}"')
        return JSONResponse(found)

    async def baselines(self, request: Request, service: RegressionService) -> Response:
        body = await self._body(request, SamplesRequest)
        if isinstance(body, Response):
            return body
        try:
            baseline = service.establish_baseline(body.name, body.samples_ms, source="api")
        except ValueError as exc:
            return error(409, str(exc))
        return JSONResponse(finite(baseline.view()), status_code=201)

    async def tests(self, request: Request, service: RegressionService) -> Response:
        body = await self._body(request, SamplesRequest)
        if isinstance(body, Response):
            return body
        try:
            verdict = await run_in_threadpool(
                service.run_regression_test, body.name, body.samples_ms
            )
        except UnknownBaseline:
            return error(404, f'no baseline named "{body.name}"; POST one to /baselines')
        return JSONResponse(finite(verdict.to_dict()))

    async def benchmark(self, request: Request, service: RegressionService) -> Response:
        body = await self._body(request, BenchmarkRequest)
        if isinstance(body, Response):
            return body
        try:
            call = plan(body, service.config.benchmark)  # refuses before contacting anything
        except TargetRefused as exc:
            return error(403, str(exc))
        except ValueError as exc:
            return error(400, str(exc))
        try:
            result = await run_in_threadpool(execute, service, body, call)
        except ValueError as exc:  # e.g. a new baseline past max_series
            return error(409, str(exc))
        return JSONResponse(result)


def regression_routes(pipeline: PipelineView) -> list[Route]:
    handlers = RegressionRoutes(pipeline)

    def route(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def on_service(request: Request, processor: RegressionProcessor) -> Response:
            return await handler(request, processor.service)

        return needs_processor(pipeline, "regression", RegressionProcessor, on_service)

    return [
        Route("/performance/regression/analysis", route(handlers.analysis)),
        Route("/performance/regression/baselines", route(handlers.baselines), methods=["POST"]),
        Route("/performance/regression/tests", route(handlers.tests), methods=["POST"]),
        Route("/performance/trends/{name:path}", route(handlers.trends)),
        Route("/performance/benchmark/run", route(handlers.benchmark), methods=["POST"]),
    ]


def _json_body(description: str) -> dict[str, Any]:
    return {
        "required": True,
        "description": description,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }


def regression_paths(ok: dict[str, Any], unauthorized: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI paths of these routes."""
    bad = {"description": "bad request body"}
    missing = {"description": "no regression processor, baseline or series of that name"}
    samples = _json_body("{name, samples_ms: [number]}")
    return {
        "/performance/regression/analysis": {
            "get": {
                "summary": "Regression analysis: baselines with their last verdict, recent "
                "change points, version comparisons",
                "responses": {"200": ok, "401": unauthorized, "404": missing},
            }
        },
        "/performance/regression/baselines": {
            "post": {
                "summary": "Establish (or replace) a named baseline from latency samples (ms)",
                "requestBody": samples,
                "responses": {"201": ok, "400": bad, "401": unauthorized, "404": missing},
            }
        },
        "/performance/regression/tests": {
            "post": {
                "summary": "Run a regression test of samples (ms) against a named baseline: "
                "verdict, p-value, Hodges-Lehmann shift with its interval, percentile deltas",
                "requestBody": samples,
                "responses": {"200": ok, "400": bad, "401": unauthorized, "404": missing},
            }
        },
        "/performance/trends/{name}": {
            "get": {
                "summary": "Theil-Sen slope (per day and week) and Mann-Kendall test over a "
                "test's run history or an operation's p95 per interval",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": ok, "401": unauthorized, "404": missing},
            }
        },
        "/performance/benchmark/run": {
            "post": {
                "summary": "Run a benchmark against an allow-listed URL or a registered "
                "callable, or record a client's samples; statistics, and a verdict against "
                "the name's baseline (the first run establishes it)",
                "requestBody": _json_body(
                    "{name, url | callable | samples_ms, iterations, warmup, concurrency}"
                ),
                "responses": {
                    "200": ok,
                    "400": bad,
                    "401": unauthorized,
                    "403": {
                        "description": "target outside benchmark.allowed_targets or "
                        "callable not registered; nothing was contacted"
                    },
                    "404": missing,
                },
            }
        },
    }
