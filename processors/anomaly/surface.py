"""What the anomaly processor adds to the API, the CLI, health and recommendations:
``/performance/anomalies``, ``anomaly score``, its check, its rule."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from otel_perf.component import OpenAPIResponses, RouteContext, Surface
from otel_perf.component.surface import Paths
from otel_perf.processors.anomaly.cli import add_parsers
from otel_perf.processors.anomaly.health import anomaly_health
from otel_perf.processors.anomaly.recommend import RULES, closed_by


def anomaly_routes(context: RouteContext) -> list[Route]:
    """``GET /performance/anomalies``: every ``anomaly`` processor's snapshot by id."""
    pipeline = context.pipeline

    async def anomalies(request: Request) -> Response:
        """Series watched, open episodes and the highest current scores."""
        return JSONResponse({"processors": pipeline.snapshot("anomaly")})

    return [Route("/performance/anomalies", anomalies)]


def anomaly_paths(responses: OpenAPIResponses) -> Paths:
    """The OpenAPI path of :func:`anomaly_routes`."""
    summary = (
        "Anomaly detection: series watched, open episodes (value, expected range, score, "
        "direction, start) and the top current scores"
    )
    get = {"summary": summary, "responses": {"200": responses.ok, "401": responses.unauthorized}}
    return {"/performance/anomalies": {"get": get}}


SURFACE = Surface(
    routes=anomaly_routes,
    paths=anomaly_paths,
    cli=add_parsers,
    health=(anomaly_health,),
    recommendations=RULES,
    closed_by=closed_by,
)
