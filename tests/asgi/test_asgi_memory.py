"""otel_perf.asgi.memory: RSS readings, the sampling interval, the descriptor across a
fork, and how the middleware uses them (a request is profiled, with its own start and end
readings, when no reading was taken in the last ``memory_interval_s``)."""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import MutableMapping
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_perf.asgi import Profiling, memory, performance_monitoring, read_rss
from otel_perf.processors.bottlenecks import memory as bottleneck_memory

MiB = 1024 * 1024


def _touched(size: int) -> bytearray:
    block = bytearray(size)
    for offset in range(0, size, 4096):  # resident only once written
        block[offset] = 1
    return block


@pytest.fixture(autouse=True)
def no_reading_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_read_at", -math.inf)  # as in a fresh process


def test_a_reading_is_due_once_the_interval_has_passed() -> None:
    now = time.perf_counter()
    first = memory.due_rss(now, interval_s=60.0)  # no reading yet: due
    assert first is not None and first > 1 << 20
    taken = time.perf_counter()
    ballast = _touched(64 * MiB)
    assert memory.due_rss(time.perf_counter(), interval_s=60.0) is None  # within the interval
    fresh = memory.due_rss(taken + 61.0, interval_s=60.0)  # past it: read afresh
    assert fresh is not None and fresh - first >= 60 * MiB
    assert memory.due_rss(time.perf_counter(), interval_s=0.0) is not None  # 0: always
    del ballast


def test_a_reading_taken_after_now_does_not_hold_the_next_one_back() -> None:
    read_rss()
    # ``now`` earlier than the latest reading (another thread read in between): due
    assert memory.due_rss(time.perf_counter() - 10.0, interval_s=60.0) is not None


def test_a_forked_child_reads_its_own_rss() -> None:
    read_rss()  # the descriptor is open in the parent before the fork
    assert memory._fd is not None
    parent_before = read_rss()
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: grow, report before and after, leave without cleanup
        try:
            start = read_rss()
            ballast = _touched(96 * MiB)
            os.write(writer, f"{start} {read_rss()} {len(ballast)}".encode())
        finally:
            os._exit(0)
    os.close(writer)
    try:
        with os.fdopen(reader, "rb") as pipe:
            start, end, _ = (int(x) for x in pipe.read().split())
    finally:
        os.waitpid(pid, 0)
    # a descriptor left over from the parent would read the parent's unchanged RSS
    assert end - start >= 90 * MiB
    assert abs(read_rss() - parent_before) < 64 * MiB  # the parent did not grow


def test_a_forked_child_profiles_its_first_request() -> None:
    read_rss()  # the parent's latest reading is recent
    assert memory.due_rss(time.perf_counter(), interval_s=3600.0) is None
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            due = memory.due_rss(time.perf_counter(), interval_s=3600.0) is not None
            os.write(writer, b"due" if due else b"not due")
        finally:
            os._exit(0)
    os.close(writer)
    try:
        with os.fdopen(reader, "rb") as pipe:
            answer = pipe.read()
    finally:
        os.waitpid(pid, 0)
    assert answer == b"due"


@pytest.mark.parametrize("value", [-0.001, math.nan, math.inf, True, "1"])
def test_memory_interval_is_validated(value: Any) -> None:
    with pytest.raises(ValueError, match="memory_interval_s must be >= 0 seconds"):
        Profiling(memory_interval_s=value)


async def _ok(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        scope["route"] = "/ok"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def _requests(interval_s: float, count: int) -> list[dict[str, Any]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = performance_monitoring(
        _ok,
        profiling=Profiling(memory_interval_s=interval_s),
        metrics=False,
        tracer_provider=provider,
    )

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        pass

    async def run() -> None:
        for _ in range(count):
            scope = {"type": "http", "method": "GET", "path": "/ok", "headers": []}
            await app(scope, receive, send)

    asyncio.run(run())
    provider.shutdown()
    spans = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert len(spans) == count
    return [dict(s.attributes or {}) for s in spans]


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One item per procfs read from now on."""
    done: list[int] = []
    real = memory._read_statm

    def counted() -> int:
        done.append(1)
        return real()

    monkeypatch.setattr(memory, "_read_statm", counted)
    return done


def test_one_request_per_interval_is_profiled_with_its_own_readings(reads: list[int]) -> None:
    attrs = _requests(interval_s=3600.0, count=5)
    # the first request (no reading yet) is profiled: a start and an end reading
    assert len(reads) == 2
    first, *rest = attrs
    assert first[memory.DELTA] == first[memory.RSS_END] - first[memory.RSS_START]
    for a in rest:  # the others fall in the interval: no memory attributes at all
        assert not any(key.startswith("otel_perf.memory.") for key in a)
    for a in attrs:  # the route is named on every request
        assert a["http.route"] == "/ok"
    # the bottlenecks processor reads the profiled request and skips the others
    assert bottleneck_memory.memory_delta(first) == first[memory.DELTA]
    assert [bottleneck_memory.memory_delta(a) for a in rest] == [None] * 4


def test_interval_zero_profiles_every_request(reads: list[int]) -> None:
    attrs = _requests(interval_s=0.0, count=5)
    assert len(reads) == 10  # each request's own start and end
    for a in attrs:
        assert a[memory.DELTA] == a[memory.RSS_END] - a[memory.RSS_START]
