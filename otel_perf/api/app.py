"""The REST API under /performance/, read by the CLI and the dashboard.

Every route answers JSON; the regression and benchmark routes also take POSTs. With
``extensions.api.auth`` set, every route but the health checks needs ``Authorization: Bearer``.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from otel_perf import __version__
from otel_perf.api import openapi
from otel_perf.component import OpenAPIResponses, RouteContext, component_type, surfaces
from otel_perf.component.routes import MAX_LIMIT, query_limit
from otel_perf.config.models import APISettings
from otel_perf.dashboard import DASHBOARD_PATHS, dashboard_routes
from otel_perf.findings import Finding, Kind
from otel_perf.pipeline import Pipeline
from otel_perf.recommend.health import HealthInputs, IngestBaseline, ingest_counters
from otel_perf.recommend.health import evaluate as evaluate_health
from otel_perf.recommend.ranking import DEFAULT_LIMIT as DEFAULT_RECOMMENDATIONS
from otel_perf.recommend.ranking import Inputs as RecommendationInputs
from otel_perf.recommend.ranking import check_query, periods_of, recommend

OPEN_PATHS = frozenset(
    {"/health", "/performance/health", "/performance/openapi.json", *DASHBOARD_PATHS}
)  # the dashboard's page and assets hold no data; the page sends the token on its fetches
#: newest stored findings read for health and recommendations
RECENT_FINDINGS = 5000


class API:
    """Routes over one pipeline."""

    def __init__(self, pipeline: Pipeline, settings: APISettings) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.started = time.time()
        token = settings.auth.bearer_token if settings.auth else None
        self._token = token.get_secret_value() if token else ""
        self._ingest_baseline = IngestBaseline()

    def app(self) -> Starlette:
        routes = [
            Route("/health", self.health),
            *(
                Route(op.path, getattr(self, op.handler), methods=[op.method.upper()])
                for op in openapi.OPERATIONS
            ),
            *self._component_routes(),
            Route("/performance/openapi.json", self.openapi),
            *dashboard_routes(),
        ]
        app = Starlette(routes=routes, exception_handlers={404: _http_error, 405: _http_error})
        app.add_middleware(_AuthMiddleware, token=self._token)
        return app

    def _component_routes(self) -> list[BaseRoute]:
        """The routes each registered component type contributes through its factory."""
        context = RouteContext(self.pipeline, authenticated=bool(self._token))
        return [route for s in surfaces() if s.routes for route in s.routes(context)]

    async def health(self, request: Request) -> Response:
        """One verdict (ok, degraded, critical) with its reasons, from every source
        (``otel_perf.recommend.health``); 503 only while the ingest queue is full."""
        telemetry = self.pipeline.telemetry.snapshot()
        counters = ingest_counters(telemetry)
        store_status = self.pipeline.store.status()
        inputs = HealthInputs(
            snapshots=self._snapshots(),
            telemetry=telemetry,
            findings=self._recent_findings(),
            baseline=self._ingest_baseline.update(counters),
            store=store_status,
        )
        verdict = evaluate_health(inputs)
        body = {
            "status": verdict.status,
            "reasons": [r.to_dict() for r in verdict.reasons],
            "version": __version__,
            "uptime_s": round(time.time() - self.started, 3),
            "queue": telemetry["queue"],
            "processors": sorted(self.pipeline.processors),
            "exporters": sorted(self.pipeline.exporters),
            "store": {"path": self.pipeline.store.path, **store_status},
        }
        return JSONResponse(body, status_code=503 if verdict.queue_full else 200)

    async def recommendations(self, request: Request) -> Response:
        """One ranked list of actions from every processor (``otel_perf.recommend``)."""
        query = request.query_params
        try:
            limit = int(query.get("limit", str(DEFAULT_RECOMMENDATIONS)))
        except ValueError:
            return _error(400, f"query parameter limit: not an integer: {query.get('limit')!r}")
        service, category = query.get("service"), query.get("category")
        try:
            check_query(service, category, limit)
        except ValueError as exc:
            return _error(400, f"query parameter {exc}")
        inputs = RecommendationInputs(
            self._snapshots(), self._recent_findings(), periods_of(self.pipeline.config.processors)
        )
        items = recommend(inputs, service=service, category=category, limit=limit)
        return JSONResponse({"recommendations": items})

    def _snapshots(self) -> dict[str, dict[str, dict[str, Any]]]:
        snaps = self.pipeline.snapshot()
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for pid, snap in snaps.items():
            out.setdefault(component_type(pid), {})[pid] = snap
        return out

    def _recent_findings(self) -> list[Finding]:
        return self.pipeline.store.findings(limit=RECENT_FINDINGS)

    async def metrics(self, request: Request) -> Response:
        """Ingest counters, plus what components add through their surfaces (span metrics:
        RED per service and operation; instrumentation: its per-service view)."""
        limit = query_limit(request)
        if isinstance(limit, Response):
            return limit
        body: dict[str, Any] = self.pipeline.telemetry.snapshot()
        service = request.query_params.get("service")
        for surface in surfaces():
            if surface.metrics:
                body.update(surface.metrics(self.pipeline, service, limit))
        return JSONResponse(body)

    async def findings(self, request: Request) -> Response:
        query = request.query_params
        kind = query.get("kind")
        if kind and kind not in {k.value for k in Kind}:
            known = ", ".join(k.value for k in Kind)
            return _error(400, f'query parameter kind: unknown kind "{kind}" (known: {known})')
        try:
            limit = int(query.get("limit", "100"))
            since_ns = int(query.get("since_ns", "0"))
        except ValueError:
            return _error(400, "query parameters limit and since_ns must be integers")
        if not 1 <= limit <= MAX_LIMIT:
            return _error(400, f"query parameter limit: must be between 1 and {MAX_LIMIT}")
        rows = self.pipeline.store.findings(kind, query.get("service"), since_ns, limit)
        return JSONResponse({"findings": [f.model_dump(mode="json") for f in rows]})

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document())


class _AuthMiddleware:
    """Pure ASGI bearer-token check; health and the OpenAPI document stay open."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.token or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        sent = headers.get(b"authorization", b"")
        if not hmac.compare_digest(sent, b"Bearer " + self.token):
            response = _error(401, "missing or wrong bearer token")
            response.headers["WWW-Authenticate"] = "Bearer"
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answer JSON like every other error."""
    status = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", "")
    if status == 404 and detail in ("", "Not Found"):
        detail = (
            f"no such path: {request.url.path} (the API's paths are listed in "
            "/performance/openapi.json; the dashboard is at /dashboard)"
        )
    elif status == 405 and detail in ("", "Method Not Allowed"):
        detail = f"{request.method} is not allowed on {request.url.path}"
    response = _error(status, str(detail))
    for name, value in (getattr(exc, "headers", None) or {}).items():
        response.headers[name] = value  # e.g. 405's Allow
    return response


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of this API (:mod:`otel_perf.api.openapi`)."""
    metrics = {key: item for s in surfaces() for key, item in s.metrics_schema.items()}
    return openapi.document(__version__, openapi.OPERATIONS, _component_paths(), metrics)


def _component_paths() -> dict[str, Any]:
    """The OpenAPI paths each registered component type contributes."""
    responses = OpenAPIResponses(openapi.OK, openapi.UNAUTHORIZED)
    return {path: item for s in surfaces() if s.paths for path, item in s.paths(responses).items()}
