"""``performance_monitoring``: our per-request profiling done in OpenTelemetryMiddleware's
own call (its request and response hooks), or in a middleware of our own inside it."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider, get_current_span

from otel_perf.asgi._types import ASGIApp, Message, Receive, Scope, Send
from otel_perf.asgi.metrics import BusinessMetrics
from otel_perf.asgi.profiling import CURRENT, NOOP_MONITOR, Profiling
from otel_perf.asgi.request import (
    SLOW_REQUEST,
    MonitoredRequest,
    Monitoring,
    send_after_return,
    set_state,
)

if TYPE_CHECKING:
    from otel_perf.cache.middleware import CacheSettings

__all__ = ["SLOW_REQUEST", "MonitoredRequest", "PerformanceMiddleware", "performance_monitoring"]

logger = logging.getLogger("otel_perf.asgi")

_MAX_DEPTH = 32


class OpenTelemetryHooks(Monitoring):
    """The per-request work done inside OpenTelemetryMiddleware's own call, through its
    hooks: one coroutine layer and one ``send`` wrapper (its own) serve both.

    ``server_request_hook`` (called with the server span, inside it, before the app)
    makes the request's :class:`MonitoredRequest`, puts it in ``scope["state"]`` and
    sets the context variable ``checkpoint`` and ``record_business_metric`` read.
    ``client_response_hook`` (called for every message the app sends, before
    OpenTelemetryMiddleware passes it on; it ends the server span right after the last
    body) records the allow-listed response headers at ``http.response.start`` and,
    before the last body, sets the end-of-request attributes and resets the context
    variable. Hooks the middleware already had run first. OpenTelemetryMiddleware calls
    no response hook with ``exclude_spans=["send"]``: :func:`performance_monitoring`
    then uses :class:`PerformanceMiddleware` instead.

    What a middleware of our own would also do and this does not: a request whose app
    returns or raises without sending a last body message gets no end-of-request
    attributes (Starlette and FastAPI answer an exception with a 500, so theirs do).
    """

    def __init__(
        self, profiling: Profiling | None = None, business: BusinessMetrics | None = None
    ) -> None:
        super().__init__(profiling, business)
        self._key = f"otel_perf.request.{id(self)}"  # our request in the scope

    def attach(self, otel: Any) -> None:
        """Install the hooks on ``otel`` (an ``OpenTelemetryMiddleware``)."""
        for name, hook in (
            ("server_request_hook", self._request_started),
            ("client_response_hook", self._response_sent),
        ):
            theirs = getattr(otel, name, None)
            setattr(otel, name, hook if theirs is None else _chained(theirs, hook))

    def _request_started(self, span: trace.Span, scope: Scope) -> None:
        if scope["type"] != "http":  # websockets pass through, as in our middleware
            return
        try:
            request = MonitoredRequest(self, scope, span if span.is_recording() else None)
            scope[self._key] = request
            request._token = CURRENT.set(request)
        except Exception:
            logger.debug("otel_perf.asgi: request start failed", exc_info=True)
            set_state(scope, NOOP_MONITOR)  # request.state.otel_perf keeps working

    def _response_sent(self, send_span: trace.Span, scope: Scope, message: Message) -> None:
        try:
            request: MonitoredRequest | None = scope.get(self._key)
            if request is None or request.finished:
                return
            kind = message["type"]
            if kind == "http.response.body":
                if not message.get("more_body", False):
                    request.finish_in(scope)  # before OpenTelemetryMiddleware ends the span
                    # the context variable back to what it was before the request (inline:
                    # this runs on every request)
                    token, request._token = request._token, None
                    if token is not None:
                        try:
                            CURRENT.reset(token)
                        except ValueError:  # sent from another task (a copy of the
                            pass  # request's context), which ends with the request
            elif kind == "http.response.start" and self._response_headers:
                request._capture_response_headers(message)
        except Exception:
            logger.debug("otel_perf.asgi: response hook failed", exc_info=True)


def _chained(first: Callable[..., None], then: Callable[..., None]) -> Callable[..., None]:
    """A hook that calls ``first`` (the app's own, which OpenTelemetryMiddleware already
    guards) and then ours."""

    def hook(*args: Any) -> None:
        first(*args)
        then(*args)

    return hook


class PerformanceMiddleware(Monitoring):
    """Pure ASGI middleware that runs inside the server span of OpenTelemetryMiddleware,
    where its hooks cannot be used (the app is instrumented further down, or its
    OpenTelemetryMiddleware excludes send spans).

    Per HTTP request: one :class:`MonitoredRequest` (the public ``RequestMonitor`` plus
    what finishing the request needs) in a context variable (for ``checkpoint`` and
    ``record_business_metric``) and in ``scope["state"]["otel_perf"]``; before the last
    body message (OpenTelemetryMiddleware ends the server span right after it), or when
    the app returns or raises without one, the matched route (``http.route`` and the
    span name ``"{method} {route}"``), the slow-request flag and, for a request sampled
    for the memory profile (about one per ``Profiling.memory_interval_s``), its RSS at
    the start and end; the allow-listed response headers at ``http.response.start``,
    when some are configured. Nothing per request is kept on ``self``. Every monitoring
    step is guarded: a failure is logged at debug level and the request goes on
    untouched.
    """

    def __init__(
        self,
        app: ASGIApp,
        profiling: Profiling | None = None,
        business: BusinessMetrics | None = None,
    ) -> None:
        super().__init__(profiling, business)
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            span = get_current_span()
            request = MonitoredRequest(self, scope, span if span.is_recording() else None)
        except Exception:
            logger.debug("otel_perf.asgi: request start failed", exc_info=True)
            set_state(scope, NOOP_MONITOR)  # request.state.otel_perf keeps working
            await self.app(scope, receive, send)
            return
        token = CURRENT.set(request)
        try:
            # no recording server span: nothing to set at the end, so send is not wrapped;
            # the response start is looked at only to capture response headers
            if request.span is None:
                await self.app(scope, receive, send)
            else:
                request._scope, request._send = scope, send
                if self._response_headers:
                    await self.app(scope, receive, request._app_send_capturing)
                else:
                    await self.app(scope, receive, request._app_send)
        finally:
            if not request.finished:  # the app returned or raised without a last body
                request.finish()
            # the server's send leads back to the scope (uvicorn's cycle object holds it),
            # and the scope's state to the request: drop it, or every request's objects
            # would be garbage only the cyclic collector frees (+10 % CPU under uvicorn)
            request._send = send_after_return
            CURRENT.reset(token)


def _is_otel_middleware(app: Any) -> bool:
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return isinstance(app, OpenTelemetryMiddleware)


def _instrumented_inside(app: Any) -> bool:
    """An OpenTelemetryMiddleware somewhere below ``app`` (its ``.app`` chain), or an app a
    framework instrumentor marked (``_is_instrumented_by_opentelemetry``)."""
    node = app
    for _ in range(_MAX_DEPTH):
        if getattr(node, "_is_instrumented_by_opentelemetry", False) is True:
            return True
        if _is_otel_middleware(node):
            return True
        node = getattr(node, "app", None)
        if node is None:
            return False
    return False


def performance_monitoring(
    app: ASGIApp,
    *,
    profiling: Profiling | bool = True,
    metrics: bool = True,
    caching: CacheSettings | bool | None = None,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> ASGIApp:
    """Wrap an ASGI app for performance monitoring in one call.

    Returns ``OpenTelemetryMiddleware(app)`` with otel-perf's work in its request and
    response hooks (:class:`OpenTelemetryHooks`): the standard
    opentelemetry-instrumentation-asgi middleware makes the server span, and the
    checkpoints, route naming, slow-request flag, header capture, memory and business
    metrics are done in its own call.

    Args:
        app: any ASGI 3 application.
        profiling: True for :class:`Profiling` defaults, a :class:`Profiling` to tune it,
            False for none (no checkpoints, memory, slow flag or headers; the route is still
            named).
        metrics: False makes ``record_business_metric`` a no-op inside this app's requests.
        caching: response caching (``otel_perf.cache.middleware``): True for
            ``CacheSettings()`` defaults, a ``CacheSettings`` to tune it, None/False for
            none. The cache middleware runs inside OpenTelemetryMiddleware (a hit still gets
            the server span, named after the stored route, with ``cache.hit=true``); with a
            ``control_token`` the control endpoints are mounted at ``control_path``.
        tracer_provider / meter_provider: for manual SDK setup; None uses the global ones
            (what ``opentelemetry-instrument`` and the distro set).

    Already instrumented apps are not wrapped twice:

    * ``app`` is an ``OpenTelemetryMiddleware`` (checked with ``isinstance``): a shallow
      copy of it is returned with our hooks (after its own, if it has some), so its
      settings and providers are kept (``tracer_provider`` then is not used); if it
      excludes send spans (it then calls no response hook) our :class:`PerformanceMiddleware`
      is inserted between it and its inner app instead.
    * an ``OpenTelemetryMiddleware`` further down the ``.app`` chain, or an app marked
      ``_is_instrumented_by_opentelemetry`` by a framework instrumentor (FastAPI,
      Starlette): our middleware wraps the app without a second OpenTelemetryMiddleware.
      Its server span starts below us, so only checkpoints (recorded on the span current
      in the handler) and business metrics work there; wrap the app before instrumenting
      it to get the span attributes too.
    """
    try:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    except ImportError as exc:  # pragma: no cover - a dev/optional dependency
        raise ImportError(
            "otel_perf.asgi needs opentelemetry-instrumentation-asgi "
            "(pip install opentelemetry-instrumentation-asgi)"
        ) from exc
    if profiling is True:
        options: Profiling | None = Profiling()
    elif profiling is False:
        options = None
    elif isinstance(profiling, Profiling):
        options = profiling
    else:
        raise TypeError(f"profiling must be a bool or Profiling, got {type(profiling).__name__}")
    business = BusinessMetrics(meter_provider) if metrics else None

    if isinstance(app, OpenTelemetryMiddleware):
        wrapped = copy.copy(app)  # hooks set on the copy: the original stays untouched
        if getattr(wrapped, "exclude_send_span", True) is False:
            wrapped.app = _cached(app.app, caching)
            OpenTelemetryHooks(options, business).attach(wrapped)
        else:  # no response hook is called: our own middleware sees the last body
            wrapped.app = PerformanceMiddleware(_cached(app.app, caching), options, business)
        return wrapped
    if _instrumented_inside(app):
        return PerformanceMiddleware(_cached(app, caching), options, business)
    otel = OpenTelemetryMiddleware(
        _cached(app, caching), tracer_provider=tracer_provider, meter_provider=meter_provider
    )
    OpenTelemetryHooks(options, business).attach(otel)
    return otel


def _cached(app: ASGIApp, caching: CacheSettings | bool | None) -> ASGIApp:
    if caching is None or caching is False:
        return app
    from otel_perf.cache.middleware import with_caching

    return with_caching(app, caching)
