"""The cache processor's REST routes, mounted by :mod:`otel_perf.api`.

* ``GET  /performance/cache/stats``: per service and cache, from telemetry (``?service=``).
* ``GET  /performance/cache/optimizations``: the current recommendations (``?service=``).
* ``POST /performance/cache/invalidate`` ``{app?, cache?, tags, patterns, keys}`` and
  ``POST /performance/cache/warmup`` ``{app?, cache?, keys?}``: validated here, then
  forwarded to each configured app's control endpoint (or the one named by ``app``).

The POSTs change state in apps, so they are refused (403) unless the API has
``extensions.api.auth.bearer_token`` set; with it, the API's auth middleware already
answers 401 to a request without the token.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from otel_perf.component import PipelineView
from otel_perf.component.routes import first_processor
from otel_perf.processors.cache.config import AppTarget
from otel_perf.processors.cache.forward import forward
from otel_perf.processors.cache.processor import CacheProcessor
from otel_perf.webbody import MAX_BODY_BYTES, error, json_body

M = TypeVar("M", bound=BaseModel)
NO_AUTH = "cache control needs extensions.api.auth.bearer_token"
NO_PROCESSOR = "no cache processor in this pipeline's config"

Name = Annotated[str, Field(min_length=1, max_length=1024)]


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    app: Name | None = None
    cache: Name | None = None


class InvalidateRequest(_Body):
    """``{app?, cache?, tags, patterns, keys}``: at least one list non-empty."""

    tags: list[Name] = []
    patterns: list[Name] = []
    keys: list[Name] = []

    @model_validator(mode="after")
    def _something(self) -> InvalidateRequest:
        if not (self.tags or self.patterns or self.keys):
            raise ValueError("at least one of tags, patterns, keys must be a non-empty list")
        return self


class WarmupRequest(_Body):
    """``{app?, cache?, keys?}``: ``keys`` null (or absent) warms every registered loader."""

    keys: list[Name] | None = None


async def read_body(request: Request, model: type[M]) -> M | Response:
    """The validated body, or the error response (413 past 16 MiB, 400 naming the field)."""
    return await json_body(request, model, MAX_BODY_BYTES)


class CacheRoutes:
    """Handlers over the pipeline's first ``cache`` processor."""

    def __init__(self, pipeline: PipelineView, authenticated: bool) -> None:
        self.pipeline = pipeline
        self.authenticated = authenticated

    def processor(self) -> CacheProcessor | None:
        return first_processor(self.pipeline, "cache", CacheProcessor)

    def _snapshot(self) -> tuple[str, dict[str, Any]] | None:
        processor = self.processor()
        if processor is None:
            return None
        return processor.id, self.pipeline.snapshot("cache").get(processor.id, {})

    async def stats(self, request: Request) -> Response:
        found = self._snapshot()
        if found is None:
            return error(404, NO_PROCESSOR)
        pid, snap = found
        service = request.query_params.get("service")
        caches = [c for c in snap.get("caches", []) if not service or c["service"] == service]
        return JSONResponse({"processor": pid, "caches": caches, "untracked": snap["untracked"]})

    async def optimizations(self, request: Request) -> Response:
        found = self._snapshot()
        if found is None:
            return error(404, NO_PROCESSOR)
        pid, snap = found
        service = request.query_params.get("service")
        rows = [r for r in snap["recommendations"] if not service or r["service"] == service]
        rows.sort(key=lambda r: -float(r["attributes"]["estimated_saving_ms_per_min"]))
        return JSONResponse(
            {"processor": pid, "evaluated_ns": snap["evaluated_ns"], "recommendations": rows}
        )

    async def invalidate(self, request: Request) -> Response:
        return await self._control(request, "invalidate", InvalidateRequest)

    async def warmup(self, request: Request) -> Response:
        return await self._control(request, "warmup", WarmupRequest)

    async def _control(self, request: Request, action: str, model: type[_Body]) -> Response:
        processor = self.processor()
        if processor is None:
            return error(404, NO_PROCESSOR)
        if not self.authenticated:
            return error(403, NO_AUTH)
        body = await read_body(request, model)
        if isinstance(body, Response):
            return body
        targets = self._targets(processor, body.app)
        if isinstance(targets, Response):
            return targets
        replies = await forward(targets, action, body.model_dump(exclude={"app"}))
        status = 200 if all(r.ok for r in replies.values()) else 502
        return JSONResponse(
            {"apps": {name: reply.view() for name, reply in replies.items()}}, status_code=status
        )

    @staticmethod
    def _targets(processor: CacheProcessor, app: str | None) -> list[AppTarget] | Response:
        apps = processor.config.apps
        if not apps:
            return error(404, f"no apps configured under processors.{processor.id}.apps")
        if app is None:
            return list(apps)
        target = processor.config.app(app)
        if target is None:
            known = ", ".join(a.name for a in apps)
            return error(404, f'app: no app named "{app}" (configured: {known})')
        return [target]


def cache_routes(pipeline: PipelineView, authenticated: bool) -> list[Route]:
    """The routes; ``authenticated`` says whether the API checks a bearer token."""
    handlers = CacheRoutes(pipeline, authenticated)
    return [
        Route("/performance/cache/stats", handlers.stats),
        Route("/performance/cache/optimizations", handlers.optimizations),
        Route("/performance/cache/invalidate", handlers.invalidate, methods=["POST"]),
        Route("/performance/cache/warmup", handlers.warmup, methods=["POST"]),
    ]


def cache_paths(ok: dict[str, Any], unauthorized: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI paths of these routes."""
    service = {"name": "service", "in": "query", "required": False, "schema": {"type": "string"}}
    missing = {"description": "no cache processor, no apps configured, or no app of that name"}
    control = {
        "200": ok,
        "400": {"description": "bad request body (the message names the field)"},
        "401": unauthorized,
        "403": {"description": "the API has no bearer token configured: " + NO_AUTH},
        "404": missing,
        "413": {"description": "request body over 16 MiB"},
        "502": {"description": "an app was unreachable or did not answer 2xx (see apps)"},
    }

    def body(text: str) -> dict[str, Any]:
        content = {"application/json": {"schema": {"type": "object"}}}
        return {"required": True, "description": text, "content": content}

    return {
        "/performance/cache/stats": {
            "get": {
                "summary": "Per service and cache, from telemetry: hits, misses, hit ratio, "
                "time saved by hits, load time, entries, bytes, evictions, misses by reason, "
                "and the same per key prefix",
                "parameters": [service],
                "responses": {"200": ok, "401": unauthorized, "404": missing},
            }
        },
        "/performance/cache/optimizations": {
            "get": {
                "summary": "Cache recommendations: TTL too short, TTL too long, queries worth "
                "caching; each with a suggested TTL and an estimated saving",
                "parameters": [service],
                "responses": {"200": ok, "401": unauthorized, "404": missing},
            }
        },
        "/performance/cache/invalidate": {
            "post": {
                "summary": "Invalidate tags, patterns or keys in the configured apps' caches "
                "(forwarded to each app's control endpoint, or the one named by app)",
                "requestBody": body("{app?, cache?, tags: [..], patterns: [..], keys: [..]}"),
                "responses": control,
            }
        },
        "/performance/cache/warmup": {
            "post": {
                "summary": "Run the configured apps' registered cache warm-up loaders",
                "requestBody": body("{app?, cache?, keys?: [..]}"),
                "responses": control,
            }
        },
    }
