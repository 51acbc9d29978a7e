"""The level-1 hit path: kept decoded values, copies for dicts and lists, no-op tracing."""

from __future__ import annotations

import asyncio
from typing import Any

import opentelemetry.trace as trace_api
import pytest
from cache_support import FakeClock
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracerProvider

from otel_perf.cache import Cache, CacheConfig
from otel_perf.cache.codec import copy_json, decode, encode
from otel_perf.cache.telemetry import Telemetry

NESTED = {"id": 1, "tags": ["a", {"deep": [1, 2.5, None, True]}], "name": "x", "m": {}}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_every_hit_of_a_dict_or_list_is_a_fresh_copy() -> None:
    async def scenario() -> None:
        cache = Cache("copies-each-hit", CacheConfig())
        original = {"id": 1, "tags": ["a"], "inner": {"n": [1, 2]}}
        await cache.set("k", original)
        original["tags"].append("changed after set")  # the caller's object is not what is kept
        seen = [await cache.get("k") for _ in range(3)]  # first decode, then kept + copied
        for value in seen:
            value["tags"].append("z")
            value["inner"]["n"].clear()
            value["new"] = True
        assert await cache.get("k") == {"id": 1, "tags": ["a"], "inner": {"n": [1, 2]}}
        assert seen[0] is not seen[1] and seen[1]["inner"] is not seen[2]["inner"]
        await cache.set("list", [[1], (2, 3)])  # tuples come back as lists, as before
        first, second = await cache.get("list"), await cache.get("list")
        first[0].append(9)
        assert second == [[1], [2, 3]] and await cache.get("list") == [[1], [2, 3]]

    run(scenario())


def test_a_compressed_dict_is_decoded_afresh_and_not_kept() -> None:
    async def scenario() -> None:
        cache = Cache("big", CacheConfig(compress_threshold=64))
        value = {"rows": [{"i": i, "s": "x" * 20} for i in range(20)]}
        await cache.set("k", value)
        got = await cache.get("k")
        got["rows"].clear()
        assert await cache.get("k") == value
        entry = cache._l1.hit("k")
        assert entry is not None and entry.blob[1] != 0
        assert entry.mutable is False  # large values are not held twice in memory

    run(scenario())


def test_immutable_values_come_back_equal_whatever_their_type() -> None:
    async def scenario() -> None:
        cache = Cache("scalars", CacheConfig())
        values: list[Any] = ["s", "", 0, -7, 2**70, 1.5, True, False, None, b"\x00raw"]
        for i, value in enumerate(values):
            await cache.set(f"k{i}", value)
        for _ in range(2):  # stored form first, then the kept value
            got = [await cache.get(f"k{i}", "missing") for i in range(len(values))]
            assert got == values
            assert [type(v) for v in got] == [type(v) for v in values]

    run(scenario())


def test_copy_json_matches_decoding_the_stored_bytes() -> None:
    config = CacheConfig()
    for value in (NESTED, [], {}, [[[]]], {"a": {"b": {"c": [1, "2", 3.0]}}}, "plain", 5):
        decoded = decode(encode("c", "k", value, config).blob)
        copied = copy_json(decoded)
        assert copied == decoded
        if isinstance(decoded, dict | list) and decoded:
            assert copied is not decoded


def nested(depth: int) -> Any:
    value: Any = [1]
    for _ in range(depth):
        value = [value]
    return value


def test_a_value_nested_too_deep_to_copy_is_decoded_instead() -> None:
    async def scenario() -> None:
        cache = Cache("deep", CacheConfig(compress_threshold=1 << 20))
        await cache.set("deeper", nested(850))
        assert await cache.get("deeper") == nested(850)  # the decoder (in C) copes; not kept
        kept = cache._l1.hit("deeper")
        assert kept is not None and not kept.mutable
        assert await cache.get("deeper") == nested(850)
        await cache.set("deep", nested(300))
        assert await cache.get("deep") == nested(300)
        entry = cache._l1.hit("deep")
        assert entry is not None and entry.mutable

        async def deep(n: int) -> Any:  # a caller already deep in the stack
            return await deep(n - 1) if n else await cache.get("deep")

        got = await deep(450)  # no room left to copy 300 levels: decoded from the bytes
        assert got == nested(300) and got is not entry.value

    run(scenario())


def test_no_spans_are_made_while_the_tracer_is_a_no_op() -> None:
    telemetry = Telemetry(NoOpTracerProvider())
    assert telemetry.live_tracer() is None

    async def scenario() -> None:
        cache = Cache("noop", CacheConfig(), telemetry=telemetry)
        await cache.set("k", {"a": 1})
        assert await cache.get("k") == {"a": 1}
        assert await cache.get("gone") is None
        assert cache.stats()["hits"] == 1 and cache.stats()["misses"] == 1

    run(scenario())


def test_the_global_proxy_tracer_turns_live_when_a_provider_is_set(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    monkeypatch.setattr(trace_api, "_TRACER_PROVIDER", None)
    monkeypatch.delenv("OTEL_PYTHON_TRACER_PROVIDER", raising=False)
    telemetry = Telemetry()  # the global provider: the API's proxy tracer
    cache = Cache("proxy", CacheConfig(), clock=clock, telemetry=telemetry)
    assert telemetry.live_tracer() is None
    run(cache.set("before", 1))
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace_api, "_TRACER_PROVIDER", provider)  # as set_tracer_provider does
    assert telemetry.live_tracer() is telemetry.tracer
    assert run(cache.get("before")) == 1
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["cache.get"]  # the set before the provider: no span
    attributes = dict(spans[0].attributes or {})
    assert attributes["cache.hit"] is True and attributes["cache.level"] == "l1"
    assert attributes["cache.key"] == "before" and attributes["cache.name"] == "proxy"
