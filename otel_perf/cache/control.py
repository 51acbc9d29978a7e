"""The app's cache control endpoints: stats, invalidate, warm-up, behind a bearer token.

``cache_control_app(token)`` is an ASGI app to mount (e.g. at ``/_otel_perf/cache``):

* ``GET  /stats`` → ``{"caches": {name: stats, ...}}``
* ``POST /invalidate`` ``{"cache": name | null, "tags": [..], "patterns": [..],
  "keys": [..]}`` (at least one list non-empty) → ``{"invalidated": {name: count}}``
* ``POST /warmup`` ``{"cache": name | null, "keys": [..] | null}`` →
  ``{"warmed": {name: count}}``

Every request needs ``Authorization: Bearer <token>`` (401 otherwise). Bodies are counted
as they arrive (over 1 MiB → 413); a malformed one is a 400 naming the field, and nothing
is changed. ``"cache": null`` (or no ``cache``) means every cache; an unknown name is a 404.
"""

from __future__ import annotations

import hmac
import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from otel_perf.asgi._types import ASGIApp, Receive, Scope, Send
from otel_perf.webbody import read_body

if TYPE_CHECKING:
    from otel_perf.cache import Cache

MAX_BODY_BYTES = 1024 * 1024
Caches = Callable[[], "dict[str, Cache]"]


class BodyError(Exception):
    """A request the endpoints refuse: the HTTP status and what was wrong, where."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


# -- request bodies --------------------------------------------------------------------


async def read_object(request: Request, allowed: tuple[str, ...]) -> dict[str, Any]:
    """The JSON object in the body, read at most :data:`MAX_BODY_BYTES` far.

    Raises:
        BodyError: 413 past the limit; 400 for bad JSON, a non-object or unknown fields.
    """
    raw = await read_body(request, MAX_BODY_BYTES)  # counted as it arrives
    if isinstance(raw, Response):
        raise BodyError(413, f"request body over {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BodyError(400, f"body: not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise BodyError(400, f"body: expected a JSON object, got {_kind(body)}")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise BodyError(400, f"body: unknown field(s) {unknown}; expected some of {list(allowed)}")
    return body


def cache_field(body: dict[str, Any]) -> str | None:
    """``cache``: a cache name, or None (absent or null) for every cache."""
    name = body.get("cache")
    if name is None or (isinstance(name, str) and name):
        return name
    raise BodyError(
        400, f"cache: expected a cache name (non-empty string) or null, got {_kind(name)}"
    )


def string_list(body: dict[str, Any], field: str, *, nullable: bool = False) -> list[str] | None:
    """``field`` as a list of strings (absent → [] or, if ``nullable``, None)."""
    value = body.get(field)
    if value is None:
        return None if nullable else []
    if not isinstance(value, list):
        expected = "a list of strings or null" if nullable else "a list of strings"
        raise BodyError(400, f"{field}: expected {expected}, got {_kind(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise BodyError(400, f"{field}[{i}]: expected a non-empty string, got {_kind(item)}")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    names = {bool: "boolean", int: "number", float: "number", str: "string"}
    names.update({list: "array", dict: "object"})
    if isinstance(value, str) and not value:
        return "an empty string"
    return names.get(type(value), type(value).__name__)


def _json_safe(value: Any) -> Any:
    """NaN and infinities (not JSON) become null; containers are walked."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


# -- the endpoints ---------------------------------------------------------------------


class _Endpoints:
    def __init__(self, caches: Caches) -> None:
        self.caches = caches

    def select(self, name: str | None) -> dict[str, Cache]:
        known = self.caches()
        if name is None:
            return dict(known)
        if name not in known:
            raise BodyError(404, f'cache: no cache named "{name}"; configured: {sorted(known)}')
        return {name: known[name]}

    async def stats(self, request: Request) -> Response:
        return JSONResponse(
            {"caches": {n: _json_safe(c.stats()) for n, c in self.caches().items()}}
        )

    async def invalidate(self, request: Request) -> Response:
        try:
            body = await read_object(request, ("cache", "tags", "patterns", "keys"))
            name = cache_field(body)
            tags, patterns, keys = (
                string_list(body, f) or [] for f in ("tags", "patterns", "keys")
            )
            if not (tags or patterns or keys):
                raise BodyError(400, "tags, patterns, keys: at least one must be a non-empty list")
            selected = self.select(name)
        except BodyError as exc:
            return _error(exc.status, exc.message)
        done: dict[str, int] = {}
        for cache_name, cache in selected.items():
            try:
                count = await cache.delete(*keys) if keys else 0
                count += await cache.invalidate_tags(*tags) if tags else 0
                for pattern in patterns:
                    count += await cache.invalidate_pattern(pattern)
            except Exception as exc:
                message = f"cache {cache_name}: invalidation failed: {type(exc).__name__}: {exc}"
                return _error(502, message, invalidated=done)
            done[cache_name] = count
        return JSONResponse({"invalidated": done})

    async def warmup(self, request: Request) -> Response:
        try:
            body = await read_object(request, ("cache", "keys"))
            name = cache_field(body)
            keys = string_list(body, "keys", nullable=True)
            selected = self.select(name)
        except BodyError as exc:
            return _error(exc.status, exc.message)
        done: dict[str, int] = {}
        for cache_name, cache in selected.items():
            try:
                done[cache_name] = await cache.warm_up(keys)
            except Exception as exc:
                message = f"cache {cache_name}: warm-up failed: {type(exc).__name__}: {exc}"
                return _error(502, message, warmed=done)
        return JSONResponse({"warmed": done})


class _BearerAuth:
    """Every request needs ``Authorization: Bearer <token>``; compared in constant time."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            sent = b""
            for name, value in scope.get("headers") or ():
                if name.lower() == b"authorization":
                    sent = value
            scheme, _, credentials = sent.strip().partition(b" ")
            # compare_digest: the time taken must not reveal how much of the token matched
            matched = hmac.compare_digest(credentials.strip(), self.token)
            if scheme.lower() != b"bearer" or not matched:
                response = _error(401, "missing or wrong bearer token")
                response.headers["WWW-Authenticate"] = "Bearer"
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def cache_control_app(token: str, caches: Caches | None = None) -> ASGIApp:
    """The control endpoints as an ASGI app, every request checked against ``token``.

    Args:
        token: the bearer token; an empty one is refused.
        caches: returns the caches to act on by name; default ``otel_perf.cache.caches``.

    Raises:
        ValueError: ``token`` is empty (or not a string).
    """
    if not isinstance(token, str) or not token:
        raise ValueError("cache_control_app: token must be a non-empty string")
    if caches is None:
        from otel_perf.cache import caches as registered

        caches = registered
    endpoints = _Endpoints(caches)
    app = Starlette(
        routes=[
            Route("/stats", endpoints.stats, methods=["GET"]),
            Route("/invalidate", endpoints.invalidate, methods=["POST"]),
            Route("/warmup", endpoints.warmup, methods=["POST"]),
        ]
    )
    return _BearerAuth(app, token)
