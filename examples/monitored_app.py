"""A small Starlette app monitored with otel_perf.asgi: checkpoints and a business metric.

Run it under auto-instrumentation, exporting to a local otel-perf::

    OTEL_SERVICE_NAME=shop OTEL_TRACES_EXPORTER=otlp OTEL_METRICS_EXPORTER=otlp \\
    OTEL_LOGS_EXPORTER=none OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 \\
    opentelemetry-instrument uvicorn monitored_app:app --app-dir examples --port 8000

``performance_monitoring`` adds opentelemetry-instrumentation-asgi's middleware itself
and runs inside its server span; opentelemetry-instrument provides the global tracer
and meter providers. ``GET /checkout/3`` records the phases ``start→validated``,
``validated→priced``, ``priced→stored`` and ``stored→end`` and the histogram
``business.order.value``.
"""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from otel_perf.asgi import Profiling, checkpoint, performance_monitoring, record_business_metric


async def checkout(request: Request) -> JSONResponse:
    items = int(request.path_params["items"])
    await asyncio.sleep(0.002)  # parse and validate the cart
    checkpoint("validated", items=items)
    await asyncio.sleep(0.005)  # ask the pricing service
    checkpoint("priced")
    await asyncio.sleep(0.003)  # write the order
    checkpoint("stored")
    value = 12.5 * items
    record_business_metric("order.value", value, currency="EUR")
    return JSONResponse({"items": items, "value": value})


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


routes = [Route("/checkout/{items:int}", checkout), Route("/health", health)]
app = performance_monitoring(
    Starlette(routes=routes),
    profiling=Profiling(slow_request_threshold_s=0.5, capture_request_headers=["x-tenant"]),
)
