"""The Cache API at level 1 (no Redis): TTL, tags, patterns, warm-up, stampede, bad input."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cache_support import FakeClock

from otel_perf.cache import (
    Cache,
    CacheConfig,
    CacheError,
    CacheValueError,
    caches,
    configure_cache,
    get_cache,
)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_set_get_delete_and_defaults() -> None:
    async def scenario() -> None:
        cache = configure_cache("api")
        assert cache.config == CacheConfig()
        assert (cache.config.default_ttl, cache.config.max_size) == (300.0, 1000)
        assert cache.config.compress_threshold == 1024
        await cache.set("user:1", {"name": "Ada"})
        await cache.set("n", None)
        assert await cache.get("user:1") == {"name": "Ada"}
        assert await cache.get("n", "default") is None  # a cached None is a hit
        assert await cache.get("missing", "default") == "default"
        assert await cache.delete("user:1", "missing") == 1
        assert await cache.get("user:1") is None
        stats = cache.stats()
        assert (stats["hits"], stats["misses"], stats["invalidations"]) == (2, 2, 1)
        assert stats["hit_ratio"] == 0.5 and stats["level2"] is False

    run(scenario())


def test_returned_values_are_copies_so_callers_cannot_corrupt_the_cache() -> None:
    async def scenario() -> None:
        cache = configure_cache("copies")
        await cache.set("k", {"items": [1]})
        first = await cache.get("k")
        first["items"].append(2)
        assert await cache.get("k") == {"items": [1]}

    run(scenario())


def test_ttl_expiry_with_an_injected_clock(clock: FakeClock) -> None:
    async def scenario() -> None:
        cache = configure_cache("ttl", default_ttl=60, clock=clock)
        await cache.set("short", 1, ttl=5)
        await cache.set("default", 2)
        clock.advance(5.5)
        assert await cache.get("short") is None
        assert await cache.get("default") == 2
        clock.advance(60)
        assert await cache.get("default") is None
        stats = cache.stats()
        assert (stats["expirations"], stats["l1_entries"]) == (2, 0)

    run(scenario())


def test_lru_eviction_is_bounded_and_counted() -> None:
    async def scenario() -> None:
        cache = configure_cache("lru", max_size=3)
        for i in range(10):
            await cache.set(f"k{i}", i)
        assert [await cache.get(f"k{i}") for i in range(10)] == [None] * 7 + [7, 8, 9]
        stats = cache.stats()
        assert (stats["l1_entries"], stats["evictions"]) == (3, 7)

    run(scenario())


def test_tags_and_patterns_invalidate_only_their_entries() -> None:
    async def scenario() -> None:
        cache = configure_cache("tags")
        await cache.set("product:1", 1, tags=["products", "eu"])
        await cache.set("product:2", 2, tags=["products"])
        await cache.set("user:1", 3, tags=["users"])
        await cache.set("user:22", 4)
        assert await cache.invalidate_tags("eu", "products") == 2
        assert await cache.invalidate_pattern("user:?") == 1
        assert [await cache.get(k) for k in ("product:1", "product:2", "user:1", "user:22")] == [
            None,
            None,
            None,
            4,
        ]
        assert cache.stats()["invalidations"] == 3

    run(scenario())


def test_warm_up_runs_the_registered_loaders() -> None:
    async def scenario() -> None:
        cache = configure_cache("warm")

        async def countries() -> list[tuple[str, Any]]:
            return [("country:fr", "France"), ("country:de", "Germany")]

        cache.register_warmup(countries, tags=["countries"], ttl=100)
        cache.register_warmup(lambda: iter([("currency:eur", "€")]))
        assert await cache.warm_up(["country:de"]) == 1
        assert await cache.get("country:fr") is None
        assert await cache.warm_up() == 3
        assert await cache.get("currency:eur") == "€"
        assert await cache.invalidate_tags("countries") == 2

    run(scenario())


def test_one_hundred_concurrent_misses_run_the_loader_once() -> None:
    async def scenario() -> None:
        cache = configure_cache("stampede")
        calls = 0
        release = asyncio.Event()

        async def loader() -> dict[str, int]:
            nonlocal calls
            calls += 1
            await release.wait()
            return {"answer": 42}

        tasks = [asyncio.create_task(cache.get_or_load("hot", loader)) for _ in range(100)]
        await asyncio.sleep(0)
        release.set()
        results = await asyncio.gather(*tasks)
        assert calls == 1
        assert all(r == {"answer": 42} for r in results)
        assert cache.stats()["loads"] == 1
        assert await cache.get_or_load("hot", loader) == {"answer": 42} and calls == 1

    run(scenario())


def test_a_failing_loader_fails_every_waiter_and_is_not_cached() -> None:
    async def scenario() -> None:
        cache = configure_cache("failing")
        calls = 0

        async def loader() -> int:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.01)
            raise RuntimeError("database down")

        results = await asyncio.gather(
            *[cache.get_or_load("k", loader) for _ in range(5)], return_exceptions=True
        )
        assert calls == 1
        assert all(isinstance(r, RuntimeError) for r in results)
        assert await cache.get_or_load("k", lambda: 7) == 7

    run(scenario())


def test_bad_values_are_refused_and_the_cache_is_left_intact() -> None:
    async def scenario() -> None:
        cache = configure_cache("bad", max_value_bytes=1000)
        await cache.set("k", "good")
        with pytest.raises(CacheValueError, match=r"cache 'bad' key 'k': value of type Cache"):
            await cache.set("k", cache)
        with pytest.raises(CacheValueError, match=r"key 'k': serialised value is 2002 bytes"):
            await cache.set("k", "x" * 2000)
        with pytest.raises(CacheValueError, match="key must be a non-empty string"):
            await cache.set("", 1)
        with pytest.raises(CacheValueError, match="key must be a non-empty string"):
            await cache.get(None)  # type: ignore[arg-type]
        with pytest.raises(CacheValueError, match="ttl must be a positive number"):
            await cache.set("k", 1, ttl=0)
        with pytest.raises(CacheValueError, match="tags must be a list"):
            await cache.set("k", 1, tags="products")
        with pytest.raises(CacheValueError, match="value of type set"):
            await cache.get_or_load("loaded", lambda: {1, 2})
        assert await cache.get("k") == "good"
        assert await cache.get("loaded") is None
        assert cache.stats()["l1_entries"] == 1

    run(scenario())


def test_configuration_errors_name_the_field() -> None:
    with pytest.raises(CacheValueError, match=r"cache 'x' config: max_size: .*greater than 0"):
        configure_cache("x", max_size=0)
    with pytest.raises(CacheValueError, match="nope: Extra inputs are not permitted"):
        configure_cache("x", nope=1)
    with pytest.raises(CacheValueError, match="smart_ttl_bounds"):
        configure_cache("x", smart_ttl_bounds=(10, 5))
    with pytest.raises(CacheValueError, match="redis_url"):
        configure_cache("x", redis_url="localhost:6379")
    with pytest.raises(CacheValueError, match="cache name must match"):
        configure_cache("bad name!")
    assert "x" not in caches()


def test_registry_defines_replaces_and_lists_caches() -> None:
    default = get_cache()
    assert isinstance(default, Cache) and default.name == "default"
    assert get_cache() is default
    first = configure_cache("db", CacheConfig(default_ttl=30), max_size=10)
    assert (first.config.default_ttl, first.config.max_size) == (30.0, 10)
    second = configure_cache("db", default_ttl=5)
    assert get_cache("db") is second and second.config.max_size == 1000
    assert set(caches()) == {"default", "db"}


def test_the_number_of_named_caches_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from otel_perf.cache import registry

    monkeypatch.setattr(registry, "MAX_CACHES", 2)
    configure_cache("one")
    configure_cache("two")
    configure_cache("two")  # redefining is fine
    with pytest.raises(CacheError, match="already 2 named caches"):
        get_cache("three")
