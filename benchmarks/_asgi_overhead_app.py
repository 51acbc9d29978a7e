"""One server of ``benchmarks.asgi_overhead``: the same Starlette app under uvicorn, wrapped
one of three ways, with the same OTel SDK setup; and the in-process measurement.

``python -m benchmarks._asgi_overhead_app VARIANT`` binds a free loopback port, prints
``READY <port>`` and serves until terminated. VARIANT:

* ``plain``: ``OpenTelemetryMiddleware(app)``;
* ``monitored``: ``performance_monitoring(app)`` (profiling and business metrics on);
* ``cached``: ``performance_monitoring(app, caching=CacheSettings(...))`` over an L1-only
  ``otel_perf.cache`` cache, so repeated paths are answered from the cache.

Every variant gets a ``TracerProvider`` whose ``BatchSpanProcessor`` hands spans to an
exporter that drops them, and a ``MeterProvider`` with a reader nobody collects from: the
SDK does all its recording work, nothing leaves the process.

``python -m benchmarks._asgi_overhead_app in-process ROUNDS REQUESTS`` calls the ``plain``
and ``monitored`` apps directly (no server, no sockets) in alternating rounds and prints
one JSON line: the CPU µs per request each, and what ``performance_monitoring`` adds.
Spans go through a ``SimpleSpanProcessor`` there, so all the work is done in the
measured thread and no span is dropped for a full queue.
"""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

import uvicorn
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from otel_perf.asgi import performance_monitoring

VARIANTS = ("plain", "monitored", "cached")
CACHE_NAME = "bench-http"
DISTINCT_PATHS = 200


class DroppingExporter(SpanExporter):
    """Takes every batch and drops it (counted, so the work cannot be optimised away)."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


async def item(request: Request) -> JSONResponse:
    """A small JSON document computed from the path (a typical cheap read endpoint)."""
    item_id = request.path_params["item_id"]
    return JSONResponse(
        {
            "id": item_id,
            "name": f"item {item_id}",
            "price_cents": (item_id * 7919) % 10_000,
            "tags": [f"t{(item_id + k) % 13}" for k in range(5)],
            "stock": {"warehouse": item_id % 4, "count": (item_id * 31) % 97},
        }
    )


def build_app(variant: str, *, batch: bool = True) -> Any:
    """The app of ``variant`` with its own SDK providers (spans batched, or exported
    inline when ``batch`` is False)."""
    resource = Resource.create({"service.name": f"asgi-overhead-{variant}"})
    tracer_provider = TracerProvider(resource=resource)
    processor: SpanProcessor = (
        BatchSpanProcessor(DroppingExporter(), schedule_delay_millis=200)
        if batch
        else SimpleSpanProcessor(DroppingExporter())
    )
    tracer_provider.add_span_processor(processor)
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()], resource=resource)
    app = Starlette(routes=[Route("/items/{item_id:int}", item)])
    providers: dict[str, Any] = {
        "tracer_provider": tracer_provider,
        "meter_provider": meter_provider,
    }
    if variant == "plain":
        return OpenTelemetryMiddleware(app, **providers)
    if variant == "monitored":
        return performance_monitoring(app, **providers)
    if variant == "cached":
        from otel_perf.cache import configure_cache
        from otel_perf.cache.middleware import CacheSettings

        configure_cache(CACHE_NAME, max_size=10_000, default_ttl=3600)
        settings = CacheSettings(cache_name=CACHE_NAME, ttl=3600)
        return performance_monitoring(app, caching=settings, **providers)
    raise SystemExit(f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")


# -- in process -------------------------------------------------------------------------


def _scope(i: int) -> dict[str, Any]:
    path = f"/items/{i % DISTINCT_PATHS}"
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _requests(app: Any, count: int, offset: int) -> None:
    sent: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent.append(message["status"])

    for i in range(count):
        await app(_scope(offset + i), _receive, send)
    if sent != [200] * count:
        raise RuntimeError(f"in-process run: statuses {sorted(set(sent))}, expected 200")


def in_process(rounds: int, requests: int) -> dict[str, Any]:
    """CPU µs per request of ``plain`` and ``monitored`` called directly, in alternating
    rounds (order reversed every other round); the added µs per request per round."""
    apps = {v: build_app(v, batch=False) for v in ("plain", "monitored")}
    loop = asyncio.new_event_loop()
    try:
        for app in apps.values():  # warm-up: imports, caches, the first spans
            loop.run_until_complete(_requests(app, max(requests, 200), 0))
        cpu: dict[str, list[float]] = {v: [] for v in apps}
        for round_ in range(rounds):
            order = list(apps) if round_ % 2 == 0 else list(apps)[::-1]
            for variant in order:
                gc.collect()  # each batch starts from the same heap state
                start = time.process_time()
                loop.run_until_complete(_requests(apps[variant], requests, round_ * requests))
                cpu[variant].append((time.process_time() - start) / requests * 1e6)
    finally:
        loop.close()
    added = [m - p for m, p in zip(cpu["monitored"], cpu["plain"], strict=True)]
    q1, _, q3 = statistics.quantiles(added, n=4)
    return {
        "in_process_us_plain": round(statistics.median(cpu["plain"]), 1),
        "in_process_us_monitored": round(statistics.median(cpu["monitored"]), 1),
        "in_process_added_us_median": round(statistics.median(added), 2),
        "in_process_added_us_q1": round(q1, 2),
        "in_process_added_us_q3": round(q3, 2),
        "in_process_rounds": rounds,
        "in_process_requests": requests,
    }


# -- the server -------------------------------------------------------------------------


def serve(variant: str) -> None:
    app = build_app(variant)
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets whose proto says
    # TCP, and without it every response waits ~40 ms for the client's delayed ACK
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    print(f"READY {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(
        app,
        lifespan="off",
        access_log=False,
        log_level="warning",
        http="h11",
        loop="asyncio",
    )
    uvicorn.Server(config).run(sockets=[sock])


def main(argv: list[str]) -> None:
    usage = (
        f"usage: python -m benchmarks._asgi_overhead_app {{{','.join(VARIANTS)}}}\n"
        "       python -m benchmarks._asgi_overhead_app in-process ROUNDS REQUESTS"
    )
    if len(argv) == 3 and argv[0] == "in-process":
        try:
            rounds, requests = int(argv[1]), int(argv[2])
        except ValueError:
            raise SystemExit(f"{usage}\nROUNDS and REQUESTS must be integers, got {argv[1:]}")
        if rounds < 2 or requests < 1:
            raise SystemExit(f"{usage}\nneed ROUNDS >= 2 and REQUESTS >= 1, got {argv[1:]}")
        print(json.dumps(in_process(rounds, requests)), flush=True)
        return
    if len(argv) != 1:
        raise SystemExit(usage)
    serve(argv[0])


if __name__ == "__main__":
    main(sys.argv[1:])
