"""One server of ``benchmarks.asgi_overhead``: the same Starlette app under uvicorn, wrapped
one of three ways, with the same OTel SDK setup; and the in-process measurement.

``python -m benchmarks._asgi_overhead_app VARIANT`` binds a free loopback port, prints
``READY <port>`` and serves until terminated. VARIANT:

* ``plain``: ``OpenTelemetryMiddleware(app)``;
* ``monitored``: ``performance_monitoring(app)`` (profiling and business metrics on);
* ``cached``: ``performance_monitoring(app, caching=CacheSettings(...))`` over an L1-only
  ``otel_perf.cache`` cache, so repeated paths are answered from the cache;
* ``control``: the same as ``plain`` in another process: its ratio to ``plain`` is what
  two identical servers differ by (memory layout, the run's noise), the resolution of
  the other ratios.

Every variant gets a ``TracerProvider`` whose ``BatchSpanProcessor`` hands spans to an
exporter that drops them, and a ``MeterProvider`` with a reader nobody collects from: the
SDK does all its recording work, nothing leaves the process.

``python -m benchmarks._asgi_overhead_app designs BLOCKS PAIRS`` compares the same way
``layered`` (``OpenTelemetryMiddleware(PerformanceMiddleware(app))``, the design before
issue 18's round 7) with ``monitored`` (the work in OpenTelemetryMiddleware's hooks):
see :func:`designs`.

``python -m benchmarks._asgi_overhead_app in-process BLOCKS PAIRS`` calls the ``plain``
and ``monitored`` apps directly (no server, no sockets), one request to each in turn, and
prints one JSON line: the CPU µs per request each, and what ``performance_monitoring``
adds (see :func:`in_process`). Spans go through a ``SimpleSpanProcessor`` there, so all
the work is done in the measured thread and no span is dropped for a full queue.
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

import numpy as np
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

from otel_perf.asgi import BusinessMetrics, PerformanceMiddleware, Profiling, performance_monitoring

VARIANTS = ("plain", "monitored", "cached", "control")
CACHE_NAME = "bench-http"
DISTINCT_PATHS = 200
BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 18


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
    if variant in ("plain", "control"):
        return OpenTelemetryMiddleware(app, **providers)
    if variant == "monitored":
        return performance_monitoring(app, **providers)
    if variant == "layered":  # the design before round 7: a middleware of ours inside
        monitoring = PerformanceMiddleware(app, Profiling(), BusinessMetrics(meter_provider))
        return OpenTelemetryMiddleware(monitoring, **providers)
    if variant == "cached":
        from otel_perf.cache import configure_cache
        from otel_perf.cache.middleware import CacheSettings

        configure_cache(CACHE_NAME, max_size=10_000, default_ttl=3600)
        settings = CacheSettings(cache_name=CACHE_NAME, ttl=3600)
        return performance_monitoring(app, caching=settings, **providers)
    raise SystemExit(
        f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)} (or layered)"
    )


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
        "state": {},  # uvicorn copies its lifespan state into every request's scope
    }


class _Cycle:
    """One request as uvicorn serves it: ``receive`` and ``send`` are methods of an
    object that holds the scope (which has a ``state`` dict), so the apps see the same
    shapes as under the server."""

    __slots__ = ("scope", "statuses")

    def __init__(self, scope: dict[str, Any], statuses: list[int]) -> None:
        self.scope = scope
        self.statuses = statuses

    async def receive(self) -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.statuses.append(message["status"])


async def _interleaved(apps: dict[str, Any], pairs: int) -> dict[str, list[int]]:
    """One request to each app in turn (the order reversed every other time), ``pairs``
    times; the CPU ns of every request (``thread_time``: the handler never waits, and
    the ``SimpleSpanProcessor`` exports in this thread)."""
    statuses: list[int] = []
    names = list(apps)
    cpu_ns: dict[str, list[int]] = {name: [] for name in names}
    clock = time.thread_time_ns
    for i in range(pairs):
        for name in names if i % 2 == 0 else names[::-1]:
            cycle = _Cycle(_scope(i), statuses)
            start = clock()
            await apps[name](cycle.scope, cycle.receive, cycle.send)
            cpu_ns[name].append(clock() - start)
    if statuses != [200] * (pairs * len(names)):
        raise RuntimeError(f"in-process run: statuses {sorted(set(statuses))}, expected 200")
    return cpu_ns


def in_process(blocks: int, pairs: int) -> dict[str, Any]:
    """CPU µs per request of ``plain`` and ``monitored`` called directly, one request to
    each in turn; per block of ``pairs`` pairs the difference of the first quartile of
    the requests' CPU; the median and quartiles of those differences over ``blocks``
    blocks with a 95 % bootstrap interval of the median, each block's difference, and
    the median per-block ratio.

    The first quartile, not the median: on a shared machine a request's CPU time doubles
    while a neighbour runs on the sibling hardware thread, so the distribution has a
    quiet and a busy half; its lower quartile is the quiet cost, steady from run to run,
    where the median falls wherever the two halves meet. It also leaves out the
    requests a garbage collection fell on: garbage one app leaves for the cyclic
    collector is paid for whenever a collection runs, in either app's requests or
    between them, so this figure does not show it (the server figures do; the middleware
    tests check that a request leaves none).
    """
    per_block = _block_quartiles(("plain", "monitored"), blocks, pairs)
    plain, monitored = per_block["plain"], per_block["monitored"]
    added = [m - p for m, p in zip(monitored, plain, strict=True)]
    ratios = [m / p for m, p in zip(monitored, plain, strict=True)]
    q1, _, q3 = statistics.quantiles(added, n=4)
    low, high = bootstrap_median_ci(added)
    return {
        "in_process_ratio": round(statistics.median(ratios), 4),
        "in_process_us_plain": round(statistics.median(plain), 1),
        "in_process_us_monitored": round(statistics.median(monitored), 1),
        "in_process_added_us": round(statistics.median(added), 2),
        "in_process_added_us_q1": round(q1, 2),
        "in_process_added_us_q3": round(q3, 2),
        "in_process_added_us_ci95": [round(low, 2), round(high, 2)],
        "in_process_added_us_blocks": [round(a, 2) for a in added],
        "in_process_blocks": blocks,
        "in_process_pairs": pairs,
    }


def _block_quartiles(variants: Sequence[str], blocks: int, pairs: int) -> dict[str, list[float]]:
    """The two apps called directly, interleaved (:func:`_interleaved`), ``blocks`` blocks
    of ``pairs`` pairs after a warm-up; per block and app the first quartile of the
    requests' CPU µs."""
    apps = {v: build_app(v, batch=False) for v in variants}
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(_interleaved(apps, 500))  # warm-up: imports, caches
        per_block: dict[str, list[float]] = {name: [] for name in apps}
        for _ in range(blocks):
            gc.collect()  # each block starts from a similar heap
            cpu_ns = loop.run_until_complete(_interleaved(apps, pairs))
            for name, values in cpu_ns.items():
                per_block[name].append(statistics.quantiles(values, n=4)[0] / 1e3)
    finally:
        loop.close()
    return per_block


def designs(blocks: int, pairs: int) -> dict[str, Any]:
    """The two ways of monitoring compared directly, as :func:`in_process` compares
    ``monitored`` with ``plain``: ``layered`` (a middleware of ours inside
    OpenTelemetryMiddleware, the design before round 7) against ``monitored`` (the work
    in OpenTelemetryMiddleware's hooks). The µs ``layered`` costs more a request, the
    median over blocks with a 95 % bootstrap interval."""
    per_block = _block_quartiles(("layered", "monitored"), blocks, pairs)
    layered, hooks = per_block["layered"], per_block["monitored"]
    saved = [a - b for a, b in zip(layered, hooks, strict=True)]
    low, high = bootstrap_median_ci(saved)
    return {
        "designs_us_layered": round(statistics.median(layered), 1),
        "designs_us_hooks": round(statistics.median(hooks), 1),
        "designs_saved_us": round(statistics.median(saved), 2),
        "designs_saved_us_ci95": [round(low, 2), round(high, 2)],
        "designs_saved_us_blocks": [round(a, 2) for a in saved],
        "designs_blocks": blocks,
        "designs_pairs": pairs,
    }


def bootstrap_median_ci(values: Sequence[float]) -> tuple[float, float]:
    """A 95 % bootstrap interval of the median of ``values`` (the blocks resampled,
    a fixed seed)."""
    data = np.asarray(values, dtype=float)
    picks = np.random.default_rng(BOOTSTRAP_SEED).integers(
        0, len(data), (BOOTSTRAP_SAMPLES, len(data))
    )
    low, high = np.quantile(np.median(data[picks], axis=1), [0.025, 0.975])
    return float(low), float(high)


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
        "       python -m benchmarks._asgi_overhead_app {in-process,designs} BLOCKS PAIRS"
    )
    if len(argv) == 3 and argv[0] in ("in-process", "designs"):
        try:
            blocks, pairs = int(argv[1]), int(argv[2])
        except ValueError:
            raise SystemExit(f"{usage}\nBLOCKS and PAIRS must be integers: {argv[1:]}") from None
        if blocks < 2 or pairs < 1:
            raise SystemExit(f"{usage}\nneed BLOCKS >= 2 and PAIRS >= 1, got {argv[1:]}")
        measure = in_process if argv[0] == "in-process" else designs
        print(json.dumps(measure(blocks, pairs)), flush=True)
        return
    if len(argv) != 1:
        raise SystemExit(usage)
    serve(argv[0])


if __name__ == "__main__":
    main(sys.argv[1:])
