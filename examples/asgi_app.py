"""A small Starlette app for trying otel-perf with standard OTel instrumentation.

Run it under auto-instrumentation, exporting to a local otel-perf::

    OTEL_SERVICE_NAME=shop OTEL_TRACES_EXPORTER=otlp OTEL_METRICS_EXPORTER=otlp \\
    OTEL_LOGS_EXPORTER=none OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 \\
    opentelemetry-instrument uvicorn asgi_app:app --app-dir examples --port 8000

The app wraps itself in opentelemetry-instrumentation-asgi's middleware (the
same middleware otel_perf.asgi builds on); opentelemetry-instrument sets up the
SDK, exporters and resource from the standard OTEL_* variables.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def item(request: Request) -> JSONResponse:
    item_id = int(request.path_params["item_id"])
    if item_id == 0:
        return JSONResponse({"error": "no such item"}, status_code=500)
    return JSONResponse({"id": item_id, "name": f"item {item_id}"})


async def cart(request: Request) -> JSONResponse:
    return JSONResponse({"items": []})


class RouteNaming:
    """Name the server span after the matched route template once routing is done.

    The ASGI middleware starts the span before the router runs, so it only knows
    the raw path ("GET /items/42"); Starlette records the matched route in the
    scope, and this puts it on the span as http.route (low cardinality).
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        span = trace.get_current_span()  # the server span; it ends with the response body

        async def send_named(message: Any) -> None:
            route = scope.get("route")
            if message["type"] == "http.response.start" and route is not None:
                span.set_attribute("http.route", route.path)
                span.update_name(f"{scope['method']} {route.path}")
            await send(message)

        await self.app(scope, receive, send_named)


routes = [Route("/items/{item_id:int}", item), Route("/cart", cart, methods=["GET", "POST"])]
app = OpenTelemetryMiddleware(RouteNaming(Starlette(routes=routes)))
