"""The incidents processor's REST routes, mounted by :mod:`otel_perf.api`.

* ``GET /performance/incidents`` (``?service=``, ``?limit=``): open incidents, most impact
  first, then recent (resolved) ones, newest first; each with its title, start, members,
  probable cause with the reasoning, impact and action.
* ``GET /performance/incidents/{id}``: one incident, open or recent.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from otel_perf.component import PipelineView
from otel_perf.webbody import error

MISSING = "no incidents processor in this pipeline's config"
MAX_LIMIT = 1000


class IncidentRoutes:
    """Handlers over every ``incidents`` processor's snapshot."""

    def __init__(self, pipeline: PipelineView) -> None:
        self.pipeline = pipeline

    def views(self) -> dict[str, Any] | None:
        snaps = self.pipeline.snapshot("incidents")
        if not snaps:
            return None
        return {
            "open": [i for s in snaps.values() for i in s.get("open", [])],
            "recent": [i for s in snaps.values() for i in s.get("recent", [])],
            "overflowed": sum(int(s.get("overflowed", 0)) for s in snaps.values()),
        }

    async def incidents(self, request: Request) -> Response:
        view = self.views()
        if view is None:
            return error(404, MISSING)
        raw = request.query_params.get("limit", "100")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            return error(400, f"query parameter limit: must be between 1 and {MAX_LIMIT}")
        service = request.query_params.get("service")
        for part in ("open", "recent"):
            view[part] = [i for i in view[part] if not service or service in i["services"]]
            view[part] = view[part][: int(raw)]
        return JSONResponse(view)

    async def incident(self, request: Request) -> Response:
        view = self.views()
        if view is None:
            return error(404, MISSING)
        wanted = request.path_params["id"]
        for body in (*view["open"], *view["recent"]):
            if body["id"] == wanted:
                return JSONResponse(body)
        known = ", ".join(i["id"] for i in view["open"][:20]) or "none open"
        return error(404, f'no incident "{wanted}" open or recent (open: {known})')


def incident_routes(pipeline: PipelineView) -> list[Route]:
    handlers = IncidentRoutes(pipeline)
    return [
        Route("/performance/incidents", handlers.incidents),
        Route("/performance/incidents/{id}", handlers.incident),
    ]


def incident_paths(ok: dict[str, Any], unauthorized: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI paths of these routes."""
    missing = {"description": "no incidents processor, or no such incident"}
    one = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "/performance/incidents": {
            "get": {
                "summary": "Open incidents (most impact first) and recent resolved ones: "
                "findings grouped by subject, time and call graph, each with title, start, "
                "members, probable cause with its reasoning, impact and one action",
                "parameters": [
                    {"name": "service", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                ],
                "responses": {
                    "200": ok,
                    "400": {"description": "bad limit"},
                    "401": unauthorized,
                    "404": missing,
                },
            }
        },
        "/performance/incidents/{id}": {
            "get": {
                "summary": "One incident, open or recent, with its causal chain",
                "parameters": [one],
                "responses": {"200": ok, "401": unauthorized, "404": missing},
            }
        },
    }
