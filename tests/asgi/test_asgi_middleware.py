"""otel_perf.asgi on a Starlette app with an in-memory SDK, driven through httpx's ASGI
transport: checkpoints, slow flag, header allow-list, memory, business metrics,
pass-through of other scopes, and that monitoring never breaks the response."""

from __future__ import annotations

import asyncio
import gc
import math
import time
import weakref
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

import otel_perf.asgi.middleware as middleware_module
from otel_perf.asgi import (
    PerformanceMiddleware,
    Profiling,
    checkpoint,
    current_request,
    performance_monitoring,
    read_rss,
    record_business_metric,
)
from otel_perf.asgi import memory as asgi_memory
from otel_perf.asgi.middleware import OpenTelemetryHooks
from otel_perf.processors.bottlenecks import memory as bottleneck_memory


class SDK:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def server_spans(self) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.kind == SpanKind.SERVER]

    def server_span(self) -> ReadableSpan:
        spans = self.server_spans()
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def histogram_points(self, name: str) -> list[HistogramDataPoint]:
        data = self.reader.get_metrics_data()
        out: list[HistogramDataPoint] = []
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        out.extend(p for p in metric.data.data_points)  # type: ignore[misc]
        return out

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


@pytest.fixture(autouse=True)
def memory_profile_due(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a fresh process: no RSS reading yet, so a test's first request is sampled for
    the memory profile (the interval is process-wide)."""
    monkeypatch.setattr(asgi_memory, "_read_at", -math.inf)


@pytest.fixture
def sdk() -> Iterator[SDK]:
    s = SDK()
    yield s
    s.shutdown()


async def order(request: Request) -> JSONResponse:
    checkpoint("validated", items=2)
    await asyncio.sleep(0.002)
    checkpoint("priced")
    request.state.otel_perf.checkpoint("stored")
    record_business_metric("order.value", 42.5, currency="EUR")
    return JSONResponse({"id": request.path_params["order_id"]})


async def slow(request: Request) -> PlainTextResponse:
    await asyncio.sleep(0.06)
    return PlainTextResponse("slow", headers={"X-Cache": "miss", "Set-Cookie": "s=secret"})


async def boom(request: Request) -> PlainTextResponse:
    raise RuntimeError("handler failed")


async def grow(request: Request) -> PlainTextResponse:
    request.state.ballast = bytearray(8 * 1024 * 1024)  # touched, so it is resident
    return PlainTextResponse(str(len(request.state.ballast)))


def starlette_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/orders/{order_id:int}", order),
            Route("/slow", slow),
            Route("/boom", boom),
            Route("/grow", grow),
        ]
    )


def wrap(sdk: SDK, **kwargs: Any) -> Any:
    return performance_monitoring(
        starlette_app(),
        tracer_provider=sdk.tracer_provider,
        meter_provider=sdk.meter_provider,
        **kwargs,
    )


def get(app: Any, path: str, **headers: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(path, headers=headers)

    return asyncio.run(go())


def test_the_work_is_done_in_otel_middlewares_own_call(sdk: SDK) -> None:
    inner = starlette_app()
    app = performance_monitoring(inner, tracer_provider=sdk.tracer_provider)
    assert isinstance(app, OpenTelemetryMiddleware)
    assert app.app is inner  # no layer of ours between it and the app: its hooks do the work
    assert isinstance(app.server_request_hook.__self__, OpenTelemetryHooks)
    assert isinstance(app.client_response_hook.__self__, OpenTelemetryHooks)
    assert get(app, "/orders/1").status_code == 200
    assert sdk.server_span().name == "GET /orders/{order_id:int}"


def test_checkpoints_are_events_on_the_server_span_in_order(sdk: SDK) -> None:
    response = get(wrap(sdk), "/orders/7")
    assert response.status_code == 200
    span = sdk.server_span()
    names = [e.name for e in span.events]
    assert names == ["validated", "priced", "stored"]
    assert span.events[0].attributes == {"items": 2}
    times = [e.timestamp for e in span.events]
    assert span.start_time is not None and span.end_time is not None
    assert span.start_time <= times[0] <= times[1] <= times[2] <= span.end_time
    # the route names the span, as examples/route_naming.py does
    assert span.name == "GET /orders/{order_id:int}"
    assert span.attributes is not None
    assert span.attributes["http.route"] == "/orders/{order_id:int}"
    assert "otel_perf.slow_request" not in span.attributes


def test_checkpoint_outside_a_request_is_a_no_op() -> None:
    assert checkpoint("nowhere") is False


def test_profiling_off_records_no_checkpoints(sdk: SDK) -> None:
    assert get(wrap(sdk, profiling=False), "/orders/1").status_code == 200
    span = sdk.server_span()
    assert span.events == ()
    assert span.attributes is not None
    assert asgi_memory.RSS_START not in span.attributes
    assert span.attributes["http.route"] == "/orders/{order_id:int}"


def test_slow_requests_are_flagged_and_headers_come_from_the_allow_list(sdk: SDK) -> None:
    profiling = Profiling(
        slow_request_threshold_s=0.05,
        capture_request_headers=["X-Tenant", "User-Agent"],
        capture_response_headers=["x-cache"],
    )
    response = get(
        wrap(sdk, profiling=profiling),
        "/slow",
        **{"X-Tenant": "acme", "Authorization": "Bearer t0ken", "Cookie": "a=b"},
    )
    assert response.status_code == 200
    attrs = dict(sdk.server_span().attributes or {})
    assert attrs["otel_perf.slow_request"] is True
    assert attrs["http.request.header.x_tenant"] == ("acme",)
    assert attrs["http.response.header.x_cache"] == ("miss",)
    assert not any("authorization" in k or "cookie" in k for k in attrs), attrs
    assert not any("t0ken" in str(v) or "secret" in str(v) for v in attrs.values()), attrs


def test_a_fast_request_is_not_flagged(sdk: SDK) -> None:
    get(wrap(sdk, profiling=Profiling(slow_request_threshold_s=5)), "/slow")
    assert "otel_perf.slow_request" not in (sdk.server_span().attributes or {})


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"capture_request_headers": ["Authorization"]}, "authorization"),
        ({"capture_request_headers": ["x-ok", "COOKIE"]}, "cookie"),
        ({"capture_response_headers": ["Set-Cookie"]}, "set-cookie"),
        ({"capture_request_headers": ["proxy-authorization", "cookie"]}, "cookie"),
    ],
)
def test_credential_headers_are_refused_at_construction(
    kwargs: dict[str, list[str]], named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        Profiling(**kwargs)  # type: ignore[arg-type]


def test_proxy_authorization_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="proxy-authorization"):
        Profiling(capture_request_headers=["Proxy-Authorization"])  # type: ignore[arg-type]


def test_memory_attributes_are_present_and_plausible(sdk: SDK) -> None:
    assert get(wrap(sdk), "/grow").status_code == 200
    attrs = dict(sdk.server_span().attributes or {})
    start = attrs[asgi_memory.RSS_START]
    end = attrs[asgi_memory.RSS_END]
    assert isinstance(start, int) and isinstance(end, int)
    assert 1 << 20 < start < 1 << 40 and 1 << 20 < end < 1 << 40
    assert attrs[asgi_memory.DELTA] == end - start
    assert abs(read_rss() - end) < 1 << 30
    assert asgi_memory.TRACED_PEAK not in attrs


def test_memory_names_are_the_ones_the_bottlenecks_processor_reads() -> None:
    assert asgi_memory.RSS_START == bottleneck_memory.RSS_START
    assert asgi_memory.RSS_END == bottleneck_memory.RSS_END
    assert asgi_memory.DELTA == bottleneck_memory.DELTA


def test_tracemalloc_opt_in_adds_the_traced_peak(sdk: SDK) -> None:
    import tracemalloc

    was_tracing = tracemalloc.is_tracing()
    try:
        get(wrap(sdk, profiling=Profiling(tracemalloc=True)), "/grow")
        attrs = dict(sdk.server_span().attributes or {})
        peak = attrs[asgi_memory.TRACED_PEAK]
        assert isinstance(peak, int) and peak >= 8 * 1024 * 1024
    finally:
        if not was_tracing:
            tracemalloc.stop()


def test_business_metric_is_a_histogram_with_attributes(sdk: SDK) -> None:
    app = wrap(sdk)
    for _ in range(3):
        assert get(app, "/orders/1").status_code == 200
    points = sdk.histogram_points("business.order.value")
    assert len(points) == 1
    assert points[0].count == 3 and points[0].sum == pytest.approx(127.5)
    assert dict(points[0].attributes or {}) == {"currency": "EUR"}


def test_metrics_off_records_no_business_metric(sdk: SDK) -> None:
    get(wrap(sdk, metrics=False), "/orders/1")
    assert sdk.histogram_points("business.order.value") == []


def test_business_metric_outside_a_request_uses_the_global_provider() -> None:
    # the global provider is the API's proxy here: recording works and does nothing
    assert record_business_metric("jobs.done", 1, queue="mail") is True
    assert record_business_metric("bad name!", 1) is False
    assert record_business_metric("jobs.done", "many") is False  # type: ignore[arg-type]


def test_business_metric_names_are_bounded(sdk: SDK) -> None:
    from otel_perf.asgi import BusinessMetrics

    metrics = BusinessMetrics(sdk.meter_provider, max_instruments=2)
    assert metrics.record("a", 1, {}) and metrics.record("b", 1, {})
    assert metrics.record("c", 1, {}) is False
    assert metrics.record("a", 2, {}) is True
    assert metrics.dropped == 1


def test_non_http_scopes_pass_through(sdk: SDK) -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])
        assert checkpoint("not a request") is False
        if scope["type"] == "lifespan":
            message = await receive()
            assert message["type"] == "lifespan.startup"
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "websocket.close", "code": 1000})

    wrapped = performance_monitoring(app, tracer_provider=sdk.tracer_provider)
    sent: list[dict[str, Any]] = []

    async def run(scope: dict[str, Any], incoming: dict[str, Any]) -> None:
        async def receive() -> dict[str, Any]:
            return incoming

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await wrapped(scope, receive, send)

    asyncio.run(run({"type": "lifespan", "asgi": {"version": "3.0"}}, {"type": "lifespan.startup"}))
    inner = PerformanceMiddleware(app, Profiling())
    sent_ws: list[dict[str, Any]] = []

    async def ws() -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "websocket.connect"}

        async def send(message: dict[str, Any]) -> None:
            sent_ws.append(message)

        await inner({"type": "websocket", "path": "/ws", "headers": []}, receive, send)

    asyncio.run(ws())
    assert seen == ["lifespan", "websocket"]
    assert sent == [{"type": "lifespan.startup.complete"}]
    assert sent_ws == [{"type": "websocket.close", "code": 1000}]
    assert sdk.server_spans() == []


def test_a_failure_in_monitoring_does_not_break_the_response(
    sdk: SDK, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> int:
        raise OSError("no procfs today")

    class BrokenRoute:
        @property
        def path(self) -> str:
            raise RuntimeError("no path today")

    class SetsBrokenRoute:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            async def send_with_broken_route(message: Any) -> None:
                scope["route"] = BrokenRoute()  # what the router matched, unreadable
                await send(message)

            await self.app(scope, receive, send_with_broken_route)

    monkeypatch.setattr(asgi_memory, "read_rss", broken)
    app = performance_monitoring(
        SetsBrokenRoute(starlette_app()),
        tracer_provider=sdk.tracer_provider,
        meter_provider=sdk.meter_provider,
    )
    response = get(app, "/orders/3")
    assert response.status_code == 200 and response.json() == {"id": 3}
    span = sdk.server_span()
    assert [e.name for e in span.events] == ["validated", "priced", "stored"]
    attrs = dict(span.attributes or {})
    assert "http.route" not in attrs and asgi_memory.RSS_START not in attrs


def test_a_failure_at_request_start_still_serves_the_request(
    sdk: SDK, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("monitor construction failed")

    monkeypatch.setattr(middleware_module, "MonitoredRequest", broken)
    response = get(wrap(sdk), "/orders/4")
    assert response.status_code == 200 and response.json() == {"id": 4}
    assert sdk.server_span().events == ()


def test_the_apps_exception_is_a_500_with_an_error_span(sdk: SDK) -> None:
    app = wrap(sdk, profiling=Profiling(memory_interval_s=0))  # both requests profiled
    with pytest.raises(RuntimeError, match="handler failed"):

        async def direct() -> None:
            transport = httpx.ASGITransport(app=app)  # re-raises the app's exception
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                await c.get("/boom")

        asyncio.run(direct())
    sdk.exporter.clear()
    response = get(app, "/boom")
    assert response.status_code == 500
    span = sdk.server_span()
    assert span.status.status_code == StatusCode.ERROR
    attrs = dict(span.attributes or {})
    assert attrs["http.route"] == "/boom"
    assert asgi_memory.RSS_END in attrs  # recorded before the span ended


def test_the_monitor_reports_the_status_the_server_span_carries(sdk: SDK) -> None:
    monitors: list[Any] = []
    seen_during: list[int | None] = []

    async def teapot(request: Request) -> PlainTextResponse:
        monitor = request.state.otel_perf
        monitors.append(monitor)
        seen_during.append(monitor.status)  # the response has not started yet
        return PlainTextResponse("short and stout", status_code=418)

    app = performance_monitoring(
        Starlette(routes=[Route("/tea", teapot)]),
        tracer_provider=sdk.tracer_provider,
        meter_provider=sdk.meter_provider,
    )
    assert get(app, "/tea").status_code == 418
    assert seen_during == [None]
    assert monitors[0].status == 418
    assert sdk.server_span().attributes["http.status_code"] == 418  # type: ignore[index]


def test_an_unsampled_request_is_served_with_a_monitor_and_no_span_work() -> None:
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monitors: list[Any] = []

    async def handler(request: Request) -> PlainTextResponse:
        monitors.append(request.state.otel_perf)
        return PlainTextResponse(str(checkpoint("nothing to record on")))

    app = performance_monitoring(
        Starlette(routes=[Route("/x", handler)]), tracer_provider=provider, metrics=False
    )
    response = get(app, "/x")
    provider.shutdown()
    assert response.status_code == 200 and response.text == "False"
    assert exporter.get_finished_spans() == ()
    (monitor,) = monitors
    assert monitor.span is None and monitor.finished  # closed when the app returned
    assert monitor.status is None  # no span to read it from
    assert monitor.checkpoint("later") is False


def test_caching_takes_a_bool_or_cache_settings() -> None:
    # tests/cache/test_cache_middleware.py covers caching=CacheSettings(...) end to end
    with pytest.raises(TypeError, match="caching must be a bool or CacheSettings, got dict"):
        performance_monitoring(starlette_app(), caching={"ttl": 1})  # type: ignore[arg-type]


def test_an_app_already_wrapped_by_otel_is_not_wrapped_twice(sdk: SDK) -> None:
    inner = starlette_app()
    already = OpenTelemetryMiddleware(inner, tracer_provider=sdk.tracer_provider)
    app = performance_monitoring(already, meter_provider=sdk.meter_provider)
    assert isinstance(app, OpenTelemetryMiddleware) and app is not already
    assert app.app is already.app  # our hooks on a copy
    assert already.server_request_hook is None and already.client_response_hook is None
    assert already.app is inner or getattr(already.app, "app", None) is inner  # untouched
    assert get(app, "/orders/5").status_code == 200
    span = sdk.server_span()
    assert [e.name for e in span.events] == ["validated", "priced", "stored"]
    assert asgi_memory.DELTA in (span.attributes or {})


def test_the_apps_own_hooks_on_its_otel_middleware_run_before_ours(sdk: SDK) -> None:
    seen: list[str] = []

    def request_hook(span: Any, scope: Any) -> None:
        seen.append("request")
        span.set_attribute("app.tenant", "t1")

    def response_hook(span: Any, scope: Any, message: Any) -> None:
        seen.append(message["type"])

    already = OpenTelemetryMiddleware(
        starlette_app(),
        tracer_provider=sdk.tracer_provider,
        server_request_hook=request_hook,
        client_response_hook=response_hook,
    )
    app = performance_monitoring(already, meter_provider=sdk.meter_provider)
    assert get(app, "/orders/7").status_code == 200
    assert seen == ["request", "http.response.start", "http.response.body"]
    span = sdk.server_span()
    assert span.name == "GET /orders/{order_id:int}"
    assert (span.attributes or {})["app.tenant"] == "t1"
    assert [e.name for e in span.events] == ["validated", "priced", "stored"]


def test_otel_middleware_without_send_spans_gets_our_middleware_inside(sdk: SDK) -> None:
    # it calls no response hook then: our own middleware wraps send to see the last body
    already = OpenTelemetryMiddleware(
        starlette_app(), tracer_provider=sdk.tracer_provider, exclude_spans=["send"]
    )
    app = performance_monitoring(
        already, profiling=Profiling(slow_request_threshold_s=0.0), metrics=False
    )
    assert isinstance(app.app, PerformanceMiddleware) and app.app.app is already.app
    assert get(app, "/orders/8").status_code == 200
    attrs = dict(sdk.server_span().attributes or {})
    assert attrs["http.route"] == "/orders/{order_id:int}"
    assert attrs[middleware_module.SLOW_REQUEST] is True
    assert asgi_memory.DELTA in attrs


def test_the_request_is_current_only_until_its_last_body(sdk: SDK) -> None:
    # httpx's transport runs the app in the caller's task: the context variable is back
    # to None there once the last body is sent from the request's own context
    from starlette.responses import StreamingResponse

    during: list[Any] = []

    async def chunks() -> Any:
        during.append(current_request())
        yield b"a"
        yield b"b"

    async def stream(request: Request) -> StreamingResponse:
        return StreamingResponse(chunks())

    app = performance_monitoring(
        Starlette(routes=[Route("/orders/{order_id:int}", order), Route("/stream", stream)]),
        tracer_provider=sdk.tracer_provider,
        meter_provider=sdk.meter_provider,
    )

    async def go() -> list[Any]:
        transport = httpx.ASGITransport(app=app)
        after = []
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/orders/9")).status_code == 200
            after.append(current_request())
            response = await client.get("/stream")
            assert response.status_code == 200 and response.text == "ab"
            # its last body came from a task of the response's own: the caller's context
            # keeps the finished request (a server's request task ends with the request)
            stale = current_request()
            after.append(stale is not None and stale.finished and checkpoint("late") is False)
        return after

    assert asyncio.run(go()) == [None, True]
    assert during[0] is not None and during[0].finished
    assert [s.name for s in sdk.server_spans()] == ["GET /orders/{order_id:int}", "GET /stream"]


def test_otel_middleware_deeper_down_is_detected(sdk: SDK) -> None:
    class Outer:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await self.app(scope, receive, send)

    nested = Outer(OpenTelemetryMiddleware(starlette_app(), tracer_provider=sdk.tracer_provider))
    app = performance_monitoring(nested, meter_provider=sdk.meter_provider)
    assert isinstance(app, PerformanceMiddleware)
    assert get(app, "/orders/6").status_code == 200
    # one server span; checkpoints still land on it (the span current in the handler)
    assert [e.name for e in sdk.server_span().events] == ["validated", "priced", "stored"]


def test_rss_reading_is_cheap() -> None:
    read_rss()
    start = time.perf_counter()
    for _ in range(1000):
        read_rss()
    assert (time.perf_counter() - start) / 1000 < 200e-6


def test_public_names_are_pinned() -> None:
    import otel_perf.asgi

    assert set(otel_perf.asgi.__all__) == {
        "FORBIDDEN_HEADERS",
        "BusinessMetrics",
        "PerformanceMiddleware",
        "Profiling",
        "RequestMonitor",
        "checkpoint",
        "current_request",
        "performance_monitoring",
        "read_rss",
        "record_business_metric",
    }
    for name in otel_perf.asgi.__all__:
        assert hasattr(otel_perf.asgi, name)


class _ServerCycle:
    """What uvicorn hands the app: ``send`` is a method of an object holding the scope."""

    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


@pytest.mark.parametrize("exclude_spans", [None, ["send"]], ids=["hooks", "our middleware"])
def test_a_request_leaves_no_garbage_for_the_cyclic_collector(
    sdk: SDK, exclude_spans: list[str] | None
) -> None:
    # the request's monitor sits in scope["state"]; in our own middleware it holds the
    # server's send, which leads back to the scope: if that cycle outlived the request,
    # every request's objects would wait for the cyclic collector (under uvicorn: +10 % CPU)
    otel = OpenTelemetryMiddleware(
        starlette_app(),
        tracer_provider=sdk.tracer_provider,
        exclude_spans=exclude_spans,  # type: ignore[arg-type]
    )
    app = performance_monitoring(otel, meter_provider=sdk.meter_provider)
    assert isinstance(app.app, PerformanceMiddleware) == bool(exclude_spans)

    class Probe:  # in the scope's state: alive as long as the scope is
        pass

    async def serve() -> tuple[weakref.ref[_ServerCycle], weakref.ref[Probe]]:
        probe = Probe()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/orders/5",
            "raw_path": b"/orders/5",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"test")],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {"probe": probe},
        }
        cycle = _ServerCycle(scope)
        await app(scope, cycle.receive, cycle.send)
        assert cycle.sent[0]["status"] == 200
        return weakref.ref(cycle), weakref.ref(probe)

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(serve())  # the first request builds caches
        gc.collect()
        gc.disable()
        try:
            cycle_gone, scope_gone = loop.run_until_complete(serve())
            # freed by reference counting alone
            assert cycle_gone() is None and scope_gone() is None
        finally:
            gc.enable()
    finally:
        loop.close()
    assert sdk.server_spans()[-1].name == "GET /orders/{order_id:int}"
