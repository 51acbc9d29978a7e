"""Response caching for ASGI apps: GET/HEAD responses kept in an ``otel_perf.cache`` cache.

``CacheMiddleware(app, CacheSettings(...))`` (or ``cache_middleware(app, ttl=30, ...)``)
serves a fresh stored response without calling the app, with ``Age`` and ``X-Cache: HIT``;
everything else goes to the app, and a cacheable answer is stored on the way back
(``X-Cache: MISS``). What is cacheable follows HTTP caching (RFC 9111) for a shared cache:

* requests: GET (HEAD is answered from the GET entry); not with ``Authorization`` or
  ``Cookie`` unless ``cache_with_credentials`` (then only ``public``/``s-maxage`` answers);
  ``Cache-Control: no-cache`` (or ``Pragma: no-cache``) skips the lookup and refreshes the
  entry; ``Cache-Control: no-store`` neither looks up nor stores;
* responses: a status in ``statuses`` (200 by default); not with ``Set-Cookie``,
  ``Cache-Control: no-store | private | no-cache``, ``max-age=0`` or ``Vary: *``; bodies
  up to ``max_body_bytes`` (larger ones stream through untouched and are not stored);
* TTL: ``s-maxage``, else ``max-age`` of the response, at most ``max_ttl``; else ``ttl``.

The key is ``{key_prefix}:{scheme}://{host}{path}?{sorted query}``, followed by
``#vary=<digest>`` of the request's values of the ``vary`` headers of the settings; a
response with ``Vary`` is stored under a further ``#vary=<digest>`` of the headers it
names, and the base key holds a pointer listing them. Glob patterns for invalidation
should end in ``*`` to cover those variants. The rules and the stored format are the pure
functions of :mod:`~.http`; this module is the ASGI shell around them.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload
from urllib.parse import parse_qsl, urlencode

from opentelemetry import trace
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from otel_perf.asgi._types import ASGIApp, Message, Receive, Scope, Send
from otel_perf.cache.http import (
    ALLOWED_STATUSES,
    Entry,
    parse_headers,
    request_rules,
    storable,
    vary_digest,
)

if TYPE_CHECKING:
    from otel_perf.cache import Cache

logger = logging.getLogger("otel_perf.cache")

MiB = 1024 * 1024
MAX_PLAIN_KEY_CHARS = 1024
"""Longer keys keep this many characters and a digest of the whole (the cache takes 4,096)."""
TagSource = tuple[str, ...] | Callable[[Scope], Iterable[str]]


class CacheSettings(BaseModel):
    """Response caching (``performance_monitoring(app, caching=CacheSettings(...))``).

    Attributes:
        cache_name: the ``otel_perf.cache`` cache to use (``get_cache(cache_name)`` per
            request, so ``configure_cache`` may define it later).
        ttl: seconds a response without ``max-age``/``s-maxage`` stays fresh.
        max_ttl: upper bound on a TTL taken from the response.
        tags: tags of every stored response: a list, or a callable of the ASGI scope
            returning them (e.g. ``lambda scope: ["products"]``).
        statuses: response codes stored (a subset of 200, 203, 204, 301, 404).
        vary: request headers always part of the key (besides the response's ``Vary``).
        max_body_bytes: larger bodies are passed through and not stored.
        cache_with_credentials: also cache requests with Authorization/Cookie, when the
            response allows it (``public`` or ``s-maxage``).
        key_prefix: first part of every key (``cache.key_prefix`` in telemetry).
        control_token: bearer token of the control endpoints; None mounts none.
        control_path: where ``performance_monitoring`` mounts the control endpoints.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    cache_name: str = Field(default="http", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    ttl: float = Field(default=60.0, gt=0)
    max_ttl: float = Field(default=3600.0, gt=0)
    tags: TagSource = ()
    statuses: frozenset[int] = frozenset({200})
    vary: tuple[str, ...] = ("accept-encoding",)
    max_body_bytes: int = Field(default=MiB, gt=0)
    cache_with_credentials: bool = False
    key_prefix: str = Field(default="http", min_length=1, pattern=r"^[^:]+$")
    control_token: str | None = Field(default=None, repr=False)
    control_path: str = Field(default="/_otel_perf/cache", pattern=r"^/.*[^/]$")

    @field_validator("statuses")
    @classmethod
    def _known_statuses(cls, value: frozenset[int]) -> frozenset[int]:
        unknown = sorted(value - ALLOWED_STATUSES)
        if unknown:
            raise ValueError(
                f"{unknown} not cacheable here; choose from {sorted(ALLOWED_STATUSES)}"
            )
        return value

    @field_validator("vary")
    @classmethod
    def _header_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not name.strip() or name.strip() == "*" for name in value):
            raise ValueError("header names must be non-empty and not '*'")
        return tuple(sorted({name.strip().lower() for name in value}))

    @model_validator(mode="after")
    def _check(self) -> CacheSettings:
        if self.ttl > self.max_ttl:
            raise ValueError(f"ttl ({self.ttl}) is above max_ttl ({self.max_ttl})")
        if self.control_token is not None and not self.control_token:
            raise ValueError("control_token: empty; use None for no control endpoints")
        return self


@dataclass(frozen=True, slots=True)
class CachedRoute:
    """The matched route of a stored response, put back in ``scope["route"]`` on a hit so
    span naming (``http.route``) works without the app's router running."""

    path: str
    path_format: str


@dataclass
class _Capture:
    """What a miss's response looked like so far (per request, never on the middleware)."""

    status: int = 0
    headers: tuple[tuple[bytes, bytes], ...] = ()
    vary: tuple[str, ...] = ()
    ttl: float = 0.0
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    storable: bool = False


class CacheMiddleware:
    """Pure ASGI response cache over a named ``otel_perf.cache`` cache.

    Per HTTP GET/HEAD request: look up the key, answer a fresh hit without calling the app
    (``Age``, ``X-Cache: HIT``), else call the app and store what is cacheable before its
    last body message goes out. The current span gets ``cache.hit``. A cache failure is
    logged at debug level and the request is served by the app as if uncached.

    Args:
        app: the ASGI app.
        settings: what to cache and for how long.
        cache: a cache object to use instead of ``get_cache(settings.cache_name)``.
        clock: wall-clock seconds (``Age`` and freshness are computed from it).
    """

    def __init__(
        self,
        app: ASGIApp,
        settings: CacheSettings | None = None,
        *,
        cache: Cache | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.settings = settings or CacheSettings()
        self.clock = clock
        self._cache = cache
        self._statuses = self.settings.statuses
        self._vary = self.settings.vary

    def cache(self) -> Cache:
        if self._cache is not None:
            return self._cache
        from otel_perf.cache import get_cache

        return get_cache(self.settings.cache_name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method")
        if scope["type"] != "http" or method not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        headers = parse_headers(scope.get("headers"))
        rules = request_rules(headers)
        credentials = rules.credentials
        if rules.no_store or (credentials and not self.settings.cache_with_credentials):
            await self.app(scope, receive, send)
            return
        try:
            cache = self.cache()
            key = self.base_key(scope, headers)
        except Exception:
            logger.debug("otel_perf.cache: no cache for this request", exc_info=True)
            await self.app(scope, receive, send)
            return
        entry = None if rules.refresh else await self._lookup(cache, key, headers)
        _mark_span(entry is not None)
        if entry is not None:
            await self._serve(entry, scope, send, head=method == "HEAD")
            return
        store = method == "GET"
        await self._miss(scope, receive, send, cache, key, headers, credentials, store)

    def base_key(self, scope: Scope, headers: Mapping[bytes, list[bytes]]) -> str:
        """``{prefix}:{scheme}://{host}{path}[?sorted query][#vary=digest]``."""
        host = b", ".join(headers.get(b"host", [])).decode("latin-1").lower()
        if not host and scope.get("server"):
            server_host, port = scope["server"]
            host = f"{server_host}:{port}" if port else str(server_host)
        query = scope.get("query_string", b"").decode("latin-1")
        pairs = sorted(parse_qsl(query, keep_blank_values=True))
        key = f"{self.settings.key_prefix}:{scope.get('scheme', 'http')}://{host}{scope['path']}"
        if pairs:
            key += "?" + urlencode(pairs)
        if len(key) > MAX_PLAIN_KEY_CHARS:
            key = f"{key[:MAX_PLAIN_KEY_CHARS]}#sha256={hashlib.sha256(key.encode()).hexdigest()}"
        if self._vary:
            key += "#vary=" + vary_digest(self._vary, headers)
        return key

    async def _lookup(
        self, cache: Cache, key: str, headers: Mapping[bytes, list[bytes]]
    ) -> Entry | None:
        try:
            entry = Entry.from_bytes(await cache.get(key))
            if entry is not None and entry.kind == "vary":
                variant = f"{key}#vary={vary_digest(entry.vary, headers)}"
                entry = Entry.from_bytes(await cache.get(variant))
        except Exception:
            logger.debug("otel_perf.cache: lookup of %s failed", key, exc_info=True)
            return None
        if entry is None or entry.kind != "response" or not entry.fresh(self.clock()):
            return None
        return entry

    async def _serve(self, entry: Entry, scope: Scope, send: Send, *, head: bool) -> None:
        if entry.route is not None:
            scope["route"] = CachedRoute(entry.route, entry.route_format or entry.route)
        age = max(0, int(self.clock() - entry.stored_at))
        headers = list(entry.headers)
        if entry.status not in (204, 304):
            headers.append((b"content-length", str(len(entry.body)).encode()))
        headers += [(b"age", str(age).encode()), (b"x-cache", b"HIT")]
        await send({"type": "http.response.start", "status": entry.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else entry.body})

    async def _miss(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        cache: Cache,
        key: str,
        request_headers: Mapping[bytes, list[bytes]],
        credentials: bool,
        store: bool,
    ) -> None:
        capture = _Capture()
        started = time.perf_counter()

        async def capturing_send(message: Message) -> None:
            kind = message.get("type")
            if kind == "http.response.start":
                if store:
                    self._judge(capture, message, credentials)
                message = dict(message)
                message["headers"] = [*message.get("headers", ()), (b"x-cache", b"MISS")]
            elif kind == "http.response.body" and capture.storable:
                self._collect(capture, message)
                if capture.storable and not message.get("more_body", False):
                    load_ms = (time.perf_counter() - started) * 1000
                    await self._store(cache, key, scope, request_headers, capture, load_ms)
            await send(message)

        await self.app(scope, receive, capturing_send)

    def _judge(self, capture: _Capture, message: Message, credentials: bool) -> None:
        """Whether the response may be stored, and for how long."""
        try:
            status = int(message.get("status", 0))
            verdict = storable(
                status,
                message.get("headers", ()),
                credentials=credentials,
                statuses=self._statuses,
                default_ttl=self.settings.ttl,
                max_ttl=self.settings.max_ttl,
            )
            if verdict is None:
                return
            capture.status, capture.vary, capture.ttl = status, verdict.vary, verdict.ttl
            capture.headers = verdict.headers
            capture.storable = True
        except Exception:
            logger.debug("otel_perf.cache: response not judged cacheable", exc_info=True)

    def _collect(self, capture: _Capture, message: Message) -> None:
        body = bytes(message.get("body", b""))
        capture.size += len(body)
        if capture.size > self.settings.max_body_bytes:
            capture.storable, capture.chunks = False, []  # streams on, not stored
        else:
            capture.chunks.append(body)

    async def _store(
        self,
        cache: Cache,
        key: str,
        scope: Scope,
        request_headers: Mapping[bytes, list[bytes]],
        capture: _Capture,
        load_ms: float,
    ) -> None:
        try:
            route = scope.get("route")
            path = route if isinstance(route, str) else getattr(route, "path", None)
            path_format = getattr(route, "path_format", None)
            now = self.clock()
            entry = Entry(
                kind="response",
                stored_at=now,
                ttl=capture.ttl,
                vary=capture.vary,
                status=capture.status,
                headers=capture.headers,
                body=b"".join(capture.chunks),
                route=path if isinstance(path, str) else None,
                route_format=path_format if isinstance(path_format, str) else None,
                load_ms=load_ms,
            )
            tags = self._tags(scope)
            if capture.vary:
                pointer = Entry(kind="vary", stored_at=now, ttl=capture.ttl, vary=capture.vary)
                await cache.set(key, pointer.to_bytes(), ttl=capture.ttl, tags=tags)
                key = f"{key}#vary={vary_digest(capture.vary, request_headers)}"
            await cache.set(key, entry.to_bytes(), ttl=capture.ttl, tags=tags, load_ms=load_ms)
        except Exception:
            logger.debug("otel_perf.cache: storing %s failed", key, exc_info=True)

    def _tags(self, scope: Scope) -> tuple[str, ...]:
        source = self.settings.tags
        if callable(source):
            return tuple(str(tag) for tag in source(scope))
        return source


def _mark_span(hit: bool) -> None:
    try:
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attribute("cache.hit", hit)
    except Exception:
        logger.debug("otel_perf.cache: span attribute failed", exc_info=True)


# -- building it -----------------------------------------------------------------------


@overload
def cache_middleware(
    app: ASGIApp, settings: CacheSettings | None = None, **options: Any
) -> CacheMiddleware: ...


@overload
def cache_middleware(
    app: None = None, settings: CacheSettings | None = None, **options: Any
) -> Callable[[ASGIApp], CacheMiddleware]: ...


def cache_middleware(
    app: ASGIApp | None = None, settings: CacheSettings | None = None, **options: Any
) -> CacheMiddleware | Callable[[ASGIApp], CacheMiddleware]:
    """Wrap ``app`` in a :class:`CacheMiddleware`; without ``app``, a function that does.

    ``options`` are :class:`CacheSettings` fields (``cache_name``, ``ttl``, ``tags``, ...)
    or ``cache=`` / ``clock=`` of :class:`CacheMiddleware`; with ``settings`` given they
    override its fields.
    """
    extra = {k: options.pop(k) for k in ("cache", "clock") if k in options}
    if settings is None:
        resolved = CacheSettings(**options)
    elif options:
        resolved = CacheSettings(**{**settings.model_dump(), **options})  # validated again
    else:
        resolved = settings

    def wrap(inner: ASGIApp) -> CacheMiddleware:
        return CacheMiddleware(inner, resolved, **extra)

    return wrap(app) if app is not None else wrap


class ControlMount:
    """Sends requests under ``path`` to ``control`` (as a Starlette ``Mount`` would: the
    prefix moves to ``root_path``) and everything else to ``app``."""

    def __init__(self, app: ASGIApp, control: ASGIApp, path: str) -> None:
        self.app, self.control, self.path = app, control, path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            root = scope.get("root_path", "")
            path: str = scope["path"]
            route_path = path[len(root) :] if root and path.startswith(root) else path
            if route_path == self.path or route_path.startswith(self.path + "/"):
                child = dict(scope)
                child["root_path"] = root + self.path
                await self.control(child, receive, send)
                return
        await self.app(scope, receive, send)


def with_caching(app: ASGIApp, caching: CacheSettings | bool) -> ASGIApp:
    """``app`` behind a :class:`CacheMiddleware`, with the control endpoints mounted at
    ``control_path`` in front of it when ``control_token`` is set (what
    ``performance_monitoring(app, caching=...)`` puts inside its server span)."""
    if caching is True:
        settings = CacheSettings()
    elif isinstance(caching, CacheSettings):
        settings = caching
    else:
        raise TypeError(f"caching must be a bool or CacheSettings, got {type(caching).__name__}")
    cached: ASGIApp = CacheMiddleware(app, settings)
    if settings.control_token is None:
        return cached
    from otel_perf.cache.control import cache_control_app

    return ControlMount(cached, cache_control_app(settings.control_token), settings.control_path)


__all__ = [
    "CacheMiddleware",
    "CacheSettings",
    "CachedRoute",
    "ControlMount",
    "cache_middleware",
    "with_caching",
]
