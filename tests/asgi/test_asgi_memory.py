"""otel_perf.asgi.memory: fresh and shared RSS readings, the descriptor across a fork, and
how the middleware uses them (one fresh read at the end, the start shared when recent)."""

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

MiB = 1024 * 1024


def _touched(size: int) -> bytearray:
    block = bytearray(size)
    for offset in range(0, size, 4096):  # resident only once written
        block[offset] = 1
    return block


def test_a_recent_reading_is_shared_and_an_old_one_is_not() -> None:
    before = read_rss()
    taken = time.perf_counter()
    ballast = _touched(64 * MiB)
    # within max_age_s the latest reading is returned, though RSS has grown since
    assert memory.recent_rss(time.perf_counter(), max_age_s=60.0) == before
    # too old for max_age_s: read afresh (and that becomes the latest reading)
    fresh = memory.recent_rss(taken + 61.0, max_age_s=60.0)
    assert fresh - before >= 60 * MiB
    assert memory.recent_rss(time.perf_counter(), max_age_s=60.0) == fresh
    del ballast


def test_a_reading_taken_after_now_is_not_used() -> None:
    read_rss()
    ballast = _touched(32 * MiB)
    # ``now`` earlier than the latest reading (another thread read in between): fresh read
    assert memory.recent_rss(time.perf_counter() - 10.0, max_age_s=60.0) == read_rss()
    del ballast


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


@pytest.mark.parametrize("value", [-0.001, math.nan, math.inf, True, "1"])
def test_memory_start_max_age_is_validated(value: Any) -> None:
    with pytest.raises(ValueError, match="memory_start_max_age_s must be >= 0 seconds"):
        Profiling(memory_start_max_age_s=value)


async def _ok(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        scope["route"] = "/ok"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def _requests(max_age_s: float, count: int) -> list[dict[str, Any]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = performance_monitoring(
        _ok,
        profiling=Profiling(memory_start_max_age_s=max_age_s),
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


def test_the_next_request_starts_from_the_previous_end_reading() -> None:
    attrs = _requests(max_age_s=3600.0, count=3)
    for earlier, later in zip(attrs, attrs[1:], strict=False):
        assert later[memory.RSS_START] == earlier[memory.RSS_END]
    for a in attrs:
        assert a[memory.DELTA] == a[memory.RSS_END] - a[memory.RSS_START]
        assert a["http.route"] == "/ok"


def test_every_request_end_is_a_fresh_read(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []
    real = memory._read_statm

    def counted() -> int:
        reads.append(1)
        return real()

    monkeypatch.setattr(memory, "_read_statm", counted)
    _requests(max_age_s=3600.0, count=5)
    assert len(reads) in (5, 6)  # one per end, and a start only if no reading was recent
    reads.clear()
    _requests(max_age_s=0.0, count=5)
    assert len(reads) == 10  # max age 0: the start is read afresh too
