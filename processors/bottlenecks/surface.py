"""What the bottlenecks processor adds to the API and recommendations:
``/performance/bottlenecks``, its rules and the period its findings' counts cover."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from otel_perf.component import OpenAPIResponses, RouteContext, Surface
from otel_perf.component.routes import query_limit
from otel_perf.component.surface import Paths
from otel_perf.processors.bottlenecks.recommend import RULES
from otel_perf.webbody import error

MISSING = "no bottlenecks (or aggregates) processor in this pipeline's config"


def bottleneck_routes(context: RouteContext) -> list[Route]:
    """``GET /performance/bottlenecks`` (``?service=``, ``?limit=``) over the first
    ``bottlenecks`` processor's snapshot, or in the analysis tier the ranking an
    ``aggregates`` processor sums from the trace tier."""
    pipeline = context.pipeline

    async def bottlenecks(request: Request) -> Response:
        """The critical-path ranking with evidence, slow queries, repeated calls, slow
        requests, checkpoint phases and memory growth."""
        limit = query_limit(request)
        if isinstance(limit, Response):
            return limit
        service = request.query_params.get("service")
        snaps = pipeline.snapshot("bottlenecks")
        if not snaps:
            tier = pipeline.snapshot("aggregates")
            snaps = {pid: snap["bottlenecks"] for pid, snap in tier.items() if snap}
        if not snaps:
            return error(404, MISSING)
        pid, snap = next(iter(snaps.items()))
        body: dict[str, Any] = {"processor": pid}
        for key, value in snap.items():
            if isinstance(value, list):
                value = [r for r in value if not service or r.get("service") == service][:limit]
            body[key] = value
        return JSONResponse(body)

    return [Route("/performance/bottlenecks", bottlenecks)]


def bottleneck_paths(responses: OpenAPIResponses) -> Paths:
    """The OpenAPI path of :func:`bottleneck_routes`."""
    summary = (
        "Operations ranked by their share of critical-path time, with exemplar trace ids; "
        "slow queries by fingerprint; N+1 and repeated-call patterns; slow requests with their "
        "critical path; checkpoint phases; memory growth per route"
    )
    parameters = [
        {"name": name, "in": "query", "required": False, "schema": {"type": kind}}
        for name, kind in (("service", "string"), ("limit", "integer"))
    ]
    get = {
        "summary": summary,
        "parameters": parameters,
        "responses": {
            "200": responses.ok,
            "400": {"description": "bad query parameter"},
            "401": responses.unauthorized,
            "404": {"description": "no bottlenecks processor configured"},
        },
    }
    return {"/performance/bottlenecks": {"get": get}}


# counts in its findings cover one evaluation window
SURFACE = Surface(
    routes=bottleneck_routes,
    paths=bottleneck_paths,
    recommendations=RULES,
    period_setting="evaluation_interval",
)
