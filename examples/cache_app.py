"""A Starlette app caching a slow lookup with ``otel_perf.cache``, with the cache control
endpoints an otel-perf sidecar forwards invalidate and warm-up to.

* ``GET /products/{id}``: ``load_product`` is ``@cached`` in the ``products`` cache
  (key ``product:{id}``, tag ``catalog``); a miss runs the 20 ms "database" lookup.
* ``GET /loads``: how many times the lookup ran (a miss or a reload after invalidation).
* ``/_otel_perf/cache/{stats,invalidate,warmup}``: ``cache_control_app`` behind the bearer
  token in ``CACHE_CONTROL_TOKEN``; a warm-up loads products 1 to 3.

Run it under OpenTelemetry so the cache spans and metrics reach otel-perf::

    CACHE_CONTROL_TOKEN=... OTEL_SERVICE_NAME=shop OTEL_TRACES_EXPORTER=otlp \\
    OTEL_METRICS_EXPORTER=otlp OTEL_LOGS_EXPORTER=none \\
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 \\
    opentelemetry-instrument uvicorn cache_app:app --app-dir examples --port 8000

and configure the sidecar with the app's control endpoint (the same token in its
environment; the API needs a token of its own for the forwarded POSTs)::

    extensions:
      api:
        auth:
          bearer_token: ${env:OTEL_PERF_TOKEN}
    processors:
      cache:
        apps:
          - name: shop
            endpoint: http://127.0.0.1:8000/_otel_perf/cache
            token: ${env:CACHE_CONTROL_TOKEN}
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from otel_perf.asgi import performance_monitoring
from otel_perf.cache import cached, configure_cache
from otel_perf.cache.control import cache_control_app

TOKEN = os.environ["CACHE_CONTROL_TOKEN"]
LOADS = {"count": 0}

products = configure_cache("products", default_ttl=300.0)
products.register_warmup(
    lambda: [(f"product:{i}", {"id": i, "name": f"product {i}"}) for i in (1, 2, 3)],
    tags=["catalog"],
)


@cached("products", tags=["catalog"], key=lambda product_id: f"product:{product_id}")
async def load_product(product_id: int) -> dict[str, Any]:
    LOADS["count"] += 1
    await asyncio.sleep(0.02)  # the slow database this cache saves
    return {"id": product_id, "name": f"product {product_id}"}


async def product(request: Request) -> JSONResponse:
    return JSONResponse(await load_product(request.path_params["product_id"]))


async def loads(request: Request) -> JSONResponse:
    return JSONResponse(LOADS)


app = performance_monitoring(
    Starlette(
        routes=[
            Route("/products/{product_id:int}", product),
            Route("/loads", loads),
            Mount("/_otel_perf/cache", cache_control_app(TOKEN)),
        ]
    )
)
