"""``performance_monitoring``: OpenTelemetryMiddleware around our per-request profiling."""

from __future__ import annotations

import copy
import logging
import math
import tracemalloc
from collections.abc import Awaitable, Iterable
from time import perf_counter
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider, get_current_span

from otel_perf.asgi import memory
from otel_perf.asgi._types import ASGIApp, Message, Receive, Scope, Send
from otel_perf.asgi.metrics import BusinessMetrics
from otel_perf.asgi.profiling import CURRENT, NOOP_MONITOR, Profiling, RequestMonitor

if TYPE_CHECKING:
    from otel_perf.cache.middleware import CacheSettings

logger = logging.getLogger("otel_perf.asgi")

SLOW_REQUEST = "otel_perf.slow_request"
_MAX_DEPTH = 32


class PerformanceMiddleware:
    """Pure ASGI middleware that runs inside the server span of OpenTelemetryMiddleware.

    Per HTTP request: one :class:`MonitoredRequest` (the public :class:`RequestMonitor`
    plus what finishing the request needs) in a context variable (for ``checkpoint`` and
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
        self.app = app
        self.profiling = profiling
        self.business = business
        self._memory = profiling is not None and profiling.memory
        self._tracemalloc = profiling is not None and profiling.tracemalloc
        self._request_headers = profiling.capture_request_headers if profiling else ()
        self._response_headers = profiling.capture_response_headers if profiling else ()
        self._threshold = profiling.slow_request_threshold_s if profiling else math.inf
        self._memory_interval_s = profiling.memory_interval_s if profiling else 0.0
        # anything to do when a request starts beyond the monitor and the memory sample
        self._start_work = self._tracemalloc or bool(self._request_headers)
        if self._tracemalloc and not tracemalloc.is_tracing():
            tracemalloc.start()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            request = MonitoredRequest(self, scope, send)
        except Exception:
            logger.debug("otel_perf.asgi: request start failed", exc_info=True)
            _set_state(scope, NOOP_MONITOR)  # request.state.otel_perf keeps working
            await self.app(scope, receive, send)
            return
        token = CURRENT.set(request)
        try:
            # no recording server span: nothing to set at the end, so send is not wrapped;
            # the response start is looked at only to capture response headers
            if request.span is None:
                await self.app(scope, receive, send)
            elif self._response_headers:
                await self.app(scope, receive, request._app_send_capturing)
            else:
                await self.app(scope, receive, request._app_send)
        finally:
            if not request.finished:  # the app returned or raised without a last body
                request.finish()
            # the server's send leads back to the scope (uvicorn's cycle object holds it),
            # and the scope's state to the request: drop it, or every request's objects
            # would be garbage only the cyclic collector frees (+10 % CPU under uvicorn)
            request._send = _send_after_return
            CURRENT.reset(token)

    def _begin(self, span: trace.Span, scope: Scope) -> None:
        """The start-of-request profiling besides the memory sample: the tracemalloc peak
        reset and the allow-listed request headers."""
        try:  # a failure here loses these attributes, not the monitor
            if self._tracemalloc and tracemalloc.is_tracing():
                tracemalloc.reset_peak()
            if self._request_headers:
                headers = scope.get("headers")
                _capture(span, "http.request.header.", headers, self._request_headers)
        except Exception:
            logger.debug("otel_perf.asgi: request start attributes failed", exc_info=True)


class MonitoredRequest(RequestMonitor):
    """A request being monitored: the public :class:`RequestMonitor` (what
    ``scope["state"]["otel_perf"]`` holds) plus the middleware, the scope and the
    server's ``send``. Its bound ``_app_send`` is the app's ``send``: one object per
    request instead of a closure and its cells. ``finish`` drops the scope and the
    middleware drops the server's ``send`` when the app returns, so the reference cycles
    through ``scope["state"]`` last only while the request runs and leave no garbage for
    the cyclic collector.

    Most requests only need the end hook: the status is read from the span when asked
    (:attr:`RequestMonitor.status`), the memory sample is a comparison with the time of
    the process's latest RSS reading, and the slow flag compares two clock readings.
    """

    __slots__ = ("_middleware", "_scope", "_send")

    def __init__(self, middleware: PerformanceMiddleware, scope: Scope, send: Send) -> None:
        # the slots assigned here rather than through RequestMonitor.__init__: this runs
        # on every request, and the extra call and super() are a third of its cost
        span: trace.Span | None = get_current_span()
        if span is not None and not span.is_recording():
            span = None  # no server span around us (or not sampled)
        self.span = span
        self.profiling = middleware.profiling
        self.business = middleware.business
        self.start = now = perf_counter()
        self.rss_start = None
        self.finished = False
        self._middleware = middleware
        self._scope: Scope | None = scope
        self._send = send
        state = scope.get("state")
        if type(state) is dict:  # the usual case (uvicorn, hypercorn, httpx): no call
            state["otel_perf"] = self
        else:
            _set_state(scope, self)
        if span is None:
            return
        # the memory sample inline (memory.due_rss without the call): profiled when no
        # RSS reading was taken in the process within the interval
        if middleware._memory and not 0.0 <= now - memory._read_at < (
            middleware._memory_interval_s
        ):
            try:  # set on the span with the end reading
                self.rss_start = memory.read_rss()
            except Exception:  # a failure loses the memory attributes, not the monitor
                logger.debug("otel_perf.asgi: RSS read failed", exc_info=True)
        if middleware._start_work:
            middleware._begin(span, scope)

    def _app_send(self, message: Message) -> Awaitable[None]:
        """The app's ``send``: finishes the request before the last body message and
        returns the server's ``send`` awaitable (no coroutine of its own)."""
        try:
            if (
                message["type"] == "http.response.body"
                and not self.finished
                and not message.get("more_body", False)
            ):
                self.finish()  # before OpenTelemetryMiddleware ends the span
        except Exception:
            logger.debug("otel_perf.asgi: response hook failed", exc_info=True)
        return self._send(message)

    def _app_send_capturing(self, message: Message) -> Awaitable[None]:
        """``_app_send`` that also records the allow-listed response headers at
        ``http.response.start`` (used only when some are configured)."""
        try:
            if message["type"] == "http.response.start" and self.span is not None:
                headers = message.get("headers")
                response_headers = self._middleware._response_headers
                _capture(self.span, "http.response.header.", headers, response_headers)
        except Exception:
            logger.debug("otel_perf.asgi: response header capture failed", exc_info=True)
        return self._app_send(message)

    def finish(self) -> None:
        """The end-of-request attributes, once, never raising: the profiling ones first
        (the RSS read closest to the request's own work), then the route. One
        ``set_attribute`` call each: in the SDK (1.45) that is the cheap path, ~0.9 µs
        against ~3.3 µs for a one-item ``set_attributes`` (which cleans the mapping as a
        nested value)."""
        self.finished = True
        scope, self._scope = self._scope, None
        span = self.span
        if span is None or scope is None:
            return
        try:
            if not span.is_recording():
                return
            if self.rss_start is not None:  # a request sampled for the memory profile
                self._memory_end(span, self.rss_start)
            middleware = self._middleware
            # the threshold is infinite without profiling
            if perf_counter() - self.start > middleware._threshold:
                span.set_attribute(SLOW_REQUEST, True)
            if middleware._tracemalloc and tracemalloc.is_tracing():
                span.set_attribute(memory.TRACED_PEAK, tracemalloc.get_traced_memory()[1])
        except Exception:  # the route is still named
            logger.debug("otel_perf.asgi: request end failed", exc_info=True)
        try:  # the span name "{method} {route}" and http.route from the matched route
            route = scope.get("route")  # Starlette/FastAPI's Route, or a template string
            path = route if isinstance(route, str) else getattr(route, "path", None)
            if isinstance(path, str) and path:
                span.update_name(f"{scope.get('method', 'HTTP')} {path}")
                span.set_attribute("http.route", path)
        except Exception:
            logger.debug("otel_perf.asgi: route naming failed", exc_info=True)

    @staticmethod
    def _memory_end(span: trace.Span, rss_start: int) -> None:
        end = memory.read_rss()
        span.set_attribute(memory.RSS_START, rss_start)
        span.set_attribute(memory.RSS_END, end)
        span.set_attribute(memory.DELTA, end - rss_start)


async def _send_after_return(message: Message) -> None:
    raise RuntimeError("ASGI send called after the app returned")


def _set_state(scope: Scope, monitor: RequestMonitor) -> None:
    try:
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        if isinstance(state, dict):
            state["otel_perf"] = monitor
    except Exception:
        logger.debug("otel_perf.asgi: scope state not writable", exc_info=True)


def _capture(
    span: trace.Span, prefix: str, headers: Iterable[Any] | None, allowed: tuple[str, ...]
) -> None:
    if not headers:
        return
    found: dict[str, list[str]] = {}
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1").lower() if isinstance(raw_name, bytes) else str(raw_name)
        if name in allowed:
            value = raw_value.decode("latin-1") if isinstance(raw_value, bytes) else str(raw_value)
            found.setdefault(name, []).append(value)
    for name, values in found.items():
        span.set_attribute(prefix + name.replace("-", "_"), values)


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

    Returns ``OpenTelemetryMiddleware(PerformanceMiddleware(app))``: the standard
    opentelemetry-instrumentation-asgi middleware makes the server span, and ours runs
    inside it (checkpoints, route naming, slow-request flag, header capture, memory,
    business metrics).

    Args:
        app: any ASGI 3 application.
        profiling: True for :class:`Profiling` defaults, a :class:`Profiling` to tune it,
            False for none (no checkpoints, memory, slow flag or headers; the route is still
            named).
        metrics: False makes ``record_business_metric`` a no-op inside this app's requests.
        caching: response caching (``otel_perf.cache.middleware``): True for
            ``CacheSettings()`` defaults, a ``CacheSettings`` to tune it, None/False for
            none. The cache middleware runs inside our middleware (a hit still gets the
            server span, named after the stored route, with ``cache.hit=true``); with a
            ``control_token`` the control endpoints are mounted at ``control_path``.
        tracer_provider / meter_provider: for manual SDK setup; None uses the global ones
            (what ``opentelemetry-instrument`` and the distro set).

    Already instrumented apps are not wrapped twice:

    * ``app`` is an ``OpenTelemetryMiddleware`` (checked with ``isinstance``): a shallow
      copy of it is returned with our middleware inserted between it and its inner app,
      so its own settings and providers are kept (``tracer_provider`` then is not used).
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
        wrapped = copy.copy(app)
        wrapped.app = PerformanceMiddleware(_cached(app.app, caching), options, business)
        return wrapped
    inner = PerformanceMiddleware(_cached(app, caching), options, business)
    if _instrumented_inside(app):
        return inner
    return OpenTelemetryMiddleware(
        inner, tracer_provider=tracer_provider, meter_provider=meter_provider
    )


def _cached(app: ASGIApp, caching: CacheSettings | bool | None) -> ASGIApp:
    if caching is None or caching is False:
        return app
    from otel_perf.cache.middleware import with_caching

    return with_caching(app, caching)
