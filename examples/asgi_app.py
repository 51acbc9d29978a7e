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

import asyncio
import os

from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from route_naming import RouteNaming
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def item(request: Request) -> JSONResponse:
    item_id = int(request.path_params["item_id"])
    if item_id == 0:
        return JSONResponse({"error": "no such item"}, status_code=500)
    return JSONResponse({"id": item_id, "name": f"item {item_id}"})


# a deliberate slow-down for trying version comparison (``SLOW_CART_MS=40``)
SLOW_CART_S = float(os.environ.get("SLOW_CART_MS", "0")) / 1000


async def cart(request: Request) -> JSONResponse:
    if SLOW_CART_S:
        await asyncio.sleep(SLOW_CART_S)
    return JSONResponse({"items": []})


routes = [Route("/items/{item_id:int}", item), Route("/cart", cart, methods=["GET", "POST"])]
app = OpenTelemetryMiddleware(RouteNaming(Starlette(routes=routes)))
