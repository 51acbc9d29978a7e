"""A small app process for the cross-process cache tests: JSON commands on stdin, replies on
stdout, one per line. ``python cache_app.py REDIS_URL`` uses the cache "shared" with level 2
there and an in-memory span exporter, so replies can say which level answered.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import redis.asyncio as aioredis
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_perf.cache import Cache, configure_cache


class App:
    def __init__(self, redis_url: str) -> None:
        self.spans = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.cache: Cache = configure_cache(
            "shared", redis_url=redis_url, compress_threshold=64, tracer_provider=provider
        )
        self.counter = aioredis.from_url(redis_url)

    async def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        op = command["op"]
        if op == "set":
            await self.cache.set(command["key"], command["value"], tags=command.get("tags", ()))
            return {}
        if op == "get":
            self.spans.clear()
            value = await self.cache.get(command["key"])
            get = [s for s in self.spans.get_finished_spans() if s.name == "cache.get"][-1]
            attrs = dict(get.attributes or {})
            return {"value": value, "hit": attrs["cache.hit"], "level": attrs.get("cache.level")}
        if op == "invalidate_tag":
            return {"removed": await self.cache.invalidate_tags(command["tag"])}
        if op == "stats":
            return {"stats": self.cache.stats()}
        if op == "stampede":
            results = await asyncio.gather(
                *[self.cache.get_or_load(command["key"], self.slow_load) for _ in range(50)]
            )
            return {"values": sorted(set(results))}
        raise ValueError(f"unknown op {op!r}")

    async def slow_load(self) -> str:
        count = await self.counter.incr("test:loads")
        await asyncio.sleep(0.5)
        return f"loaded-{count}"

    async def close(self) -> None:
        await self.cache.close()
        await self.counter.aclose()


async def main() -> None:
    app = App(sys.argv[1])
    loop = asyncio.get_running_loop()
    print(json.dumps({"ready": True}), flush=True)
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        try:
            reply = await app.handle(json.loads(line))
        except Exception as exc:  # reported to the test
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(reply), flush=True)
    await app.close()


if __name__ == "__main__":
    asyncio.run(main())
