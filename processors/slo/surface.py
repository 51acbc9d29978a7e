"""What the slo processor adds to the API, health and recommendations: ``/performance/slo``,
its burn-rate and breach check, its rule."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from otel_perf.component import OpenAPIResponses, PipelineView, RouteContext, Surface
from otel_perf.component.surface import Paths
from otel_perf.processors.slo.health import slo_health
from otel_perf.processors.slo.recommend import RULES, evaluated_ns


def slo_routes(context: RouteContext) -> list[Route]:
    """``GET /performance/slo`` (``?service=``) over every ``slo`` processor's snapshot."""
    pipeline: PipelineView = context.pipeline

    async def slo(request: Request) -> Response:
        """Every objective: target, SLI, error budget with its arithmetic, burn rates, alerts."""
        service = request.query_params.get("service")
        objectives = [
            view
            for snap in pipeline.snapshot("slo").values()
            for view in snap.get("objectives", [])
            if not service or view["service"] == service
        ]
        return JSONResponse({"objectives": objectives})

    return [Route("/performance/slo", slo)]


def slo_paths(responses: OpenAPIResponses) -> Paths:
    """The OpenAPI path of :func:`slo_routes`."""
    service: dict[str, Any] = {
        "name": "service",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
    }
    summary = (
        "Each objective: target, SLI over its window, error budget consumed and remaining "
        "with the formulas and figures, burn rate per alert window, alert state"
    )
    get = {
        "summary": summary,
        "parameters": [service],
        "responses": {"200": responses.ok, "401": responses.unauthorized},
    }
    return {"/performance/slo": {"get": get}}


SURFACE = Surface(
    routes=slo_routes,
    paths=slo_paths,
    health=(slo_health,),
    recommendations=RULES,
    evaluated_ns=evaluated_ns,
)
