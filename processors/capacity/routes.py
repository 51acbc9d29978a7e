"""The capacity processor's REST routes, mounted by :mod:`otel_perf.api`.

* ``GET  /performance/capacity/dashboard``: per resource the current usage, trend, seasons,
  peaks, forecast summary, time to each threshold, right-sizing and cost.
* ``GET  /performance/capacity/forecast/{resource}`` (``?horizon=7d``): the forecast points
  with their interval, the method, seasons and threshold crossings.
* ``POST /performance/capacity/autoscaling-config`` ``{resource, target_utilization,
  min_replicas, max_replicas, ...}``: an ``autoscaling/v2`` HorizontalPodAutoscaler and a KEDA
  ScaledObject as YAML, the plan's numbers and reasoning, and the replica schedule.

Write routes are behind the bearer token like every other route when auth is on (the
autoscaling route computes and returns YAML; it changes nothing).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from otel_perf.component import PipelineView
from otel_perf.component.routes import needs_processor
from otel_perf.config.types import parse_duration_s
from otel_perf.processors.capacity.autoscaling import ScalingInputError, ScalingRequest
from otel_perf.processors.capacity.processor import CapacityProcessor
from otel_perf.webbody import error, read_body, validation_message

Handler = Callable[[Request, CapacityProcessor], Awaitable[Response]]


class CapacityRoutes:
    """Handlers over the pipeline's first ``capacity`` processor."""

    def __init__(self, pipeline: PipelineView) -> None:
        self.pipeline = pipeline

    async def dashboard(self, request: Request, processor: CapacityProcessor) -> Response:
        return JSONResponse(await run_in_threadpool(processor.views.dashboard))

    async def forecast(self, request: Request, processor: CapacityProcessor) -> Response:
        resource = request.path_params["resource"]
        horizon_s: float | None = None
        raw = request.query_params.get("horizon")
        if raw:
            try:
                horizon_s = parse_duration_s(raw)
            except ValueError as exc:
                return error(400, f"horizon: {exc}")
            if horizon_s <= 0:
                return error(400, f"horizon: must be positive, got {raw!r}")
        try:
            view = await run_in_threadpool(processor.views.forecast_view, resource, horizon_s)
        except KeyError:
            known = ", ".join(processor.views.resources()[:20]) or "none yet"
            return error(404, f'no usage recorded for resource "{resource}" (known: {known})')
        except ValueError as exc:
            return error(409, str(exc))
        return JSONResponse(view)

    async def autoscaling(self, request: Request, processor: CapacityProcessor) -> Response:
        raw = await read_body(request)
        if isinstance(raw, Response):
            return raw
        try:
            data: Any = json.loads(raw or b"null")
        except json.JSONDecodeError as exc:
            return error(400, f"request body is not JSON: {exc}")
        if isinstance(data, dict) and not data.get("workload") and not data.get("service"):
            # the resource's own service names the workload unless the body says otherwise
            service = processor.views.service_of(str(data.get("resource", "")))
            if service:
                data["service"] = service
        try:
            body = ScalingRequest.model_validate(data)
        except ValidationError as exc:
            return error(400, validation_message(exc))
        try:
            result = await run_in_threadpool(processor.views.autoscaling, body)
        except KeyError:
            return error(404, f'no usage recorded for resource "{body.resource}"')
        except ScalingInputError as exc:
            return error(409, str(exc))
        return JSONResponse(result)


def capacity_routes(pipeline: PipelineView) -> list[Route]:
    handlers = CapacityRoutes(pipeline)

    def route(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        return needs_processor(pipeline, "capacity", CapacityProcessor, handler)

    return [
        Route("/performance/capacity/dashboard", route(handlers.dashboard)),
        Route("/performance/capacity/forecast/{resource:path}", route(handlers.forecast)),
        Route(
            "/performance/capacity/autoscaling-config",
            route(handlers.autoscaling),
            methods=["POST"],
        ),
    ]


def capacity_paths(ok: dict[str, Any], unauthorized: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI paths of these routes."""
    missing = {"description": "no capacity processor, or no usage for that resource"}
    return {
        "/performance/capacity/dashboard": {
            "get": {
                "summary": "Per resource: current usage, p90, trend, detected seasons and "
                "peaks, forecast summary, time until each threshold, right-sizing, cost",
                "responses": {"200": ok, "401": unauthorized, "404": missing},
            }
        },
        "/performance/capacity/forecast/{resource}": {
            "get": {
                "summary": "Forecast of a resource with its prediction interval, method, "
                "seasons and threshold crossings (earliest, expected, latest)",
                "parameters": [
                    {
                        "name": "resource",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                    {"name": "horizon", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": ok,
                    "400": {"description": "bad horizon"},
                    "401": unauthorized,
                    "404": missing,
                    "409": {"description": "not enough history to forecast yet"},
                },
            }
        },
        "/performance/capacity/autoscaling-config": {
            "post": {
                "summary": "A Kubernetes autoscaling/v2 HorizontalPodAutoscaler and a KEDA "
                "ScaledObject (YAML with the reasoning as comments), the numbers behind them "
                "and the expected replicas per hour for the next days",
                "requestBody": {
                    "required": True,
                    "description": "{resource, target_utilization (percent), min_replicas, "
                    "max_replicas, service, workload, namespace, kind, days}",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "responses": {
                    "200": ok,
                    "400": {"description": "bad request body (the field is named)"},
                    "401": unauthorized,
                    "404": missing,
                    "409": {"description": "the usage history cannot support a plan yet"},
                },
            }
        },
    }
