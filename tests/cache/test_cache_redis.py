"""Level 2 in a real Redis, driven from one process: both levels, indexes, expiry, failures."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis
from cache_support import FakeClock

from otel_perf.cache import Cache, CacheConfig

PREFIX = "otel-perf:cache"


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def pair(redis_url: str, **settings: Any) -> tuple[Cache, Cache]:
    """Two caches of the same name (like two processes' level 1) over one level 2."""
    config = CacheConfig(redis_url=redis_url, **settings)
    return Cache("shared", config), Cache("shared", config)


def test_level_2_serves_a_cache_whose_level_1_is_empty(
    redis_url: str, redis_client: redis.Redis
) -> None:
    async def scenario() -> None:
        writer, reader = pair(redis_url, compress_threshold=100)
        big = {"rows": [f"row {i}" for i in range(200)]}
        await writer.set("report:1", big, ttl=60, tags=["reports"])
        await writer.set("blob", b"\x00\xff" * 300)
        assert await reader.get("report:1") == big
        assert await reader.get("blob") == b"\x00\xff" * 300
        stats = reader.stats()
        assert (stats["hits"], stats["l1_entries"], stats["compressed_entries"]) == (2, 2, 2)
        pttl = redis_client.pttl(f"{PREFIX}:shared:k:report:1")
        assert 59_000 < pttl <= 60_000
        await writer.close()
        await reader.close()

    run(scenario())


def test_tag_and_pattern_invalidation_reach_level_2(
    redis_url: str, redis_client: redis.Redis
) -> None:
    async def scenario() -> None:
        writer, reader = pair(redis_url)
        await writer.set("product:1", 1, tags=["products"])
        await writer.set("product:2", 2, tags=["products", "eu"])
        await writer.set("user:1", 3, tags=["users"])
        for i in range(600):  # more than one ZSCAN batch
            await writer.set(f"session:{i}", i)
        assert await writer.invalidate_tags("eu") == 1
        assert await writer.invalidate_tags("products") == 1
        assert await writer.invalidate_pattern("session:*") == 600
        assert [await reader.get(k) for k in ("product:1", "product:2", "user:1")] == [
            None,
            None,
            3,
        ]
        assert await reader.get("session:7") is None
        assert redis_client.zrange(f"{PREFIX}:shared:keys", 0, -1) == [b"user:1"]
        assert not redis_client.exists(f"{PREFIX}:shared:t:products")
        assert not redis_client.exists(f"{PREFIX}:shared:kt:product:2")
        await writer.close()
        await reader.close()

    run(scenario())


def test_a_reset_entry_loses_its_old_tags_in_level_2(
    redis_url: str, redis_client: redis.Redis
) -> None:
    async def scenario() -> None:
        writer, reader = pair(redis_url)
        await writer.set("k", 1, tags=["old"])
        await writer.set("k", 2, tags=["new"])
        assert await reader.invalidate_tags("old") == 0
        assert await reader.get("k") == 2
        assert await reader.invalidate_tags("new") == 1
        deadline = time.monotonic() + 5
        while await writer.get("k") is not None:  # the reader's message reaches the writer
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        await writer.close()
        await reader.close()

    run(scenario())


def test_entries_expire_in_level_2_and_the_indexes_are_trimmed(
    redis_url: str, redis_client: redis.Redis
) -> None:
    async def scenario() -> None:
        writer, reader = pair(redis_url)
        await writer.set("short", 1, ttl=0.2, tags=["t"])
        await writer.set("long", 2, ttl=60, tags=["t"])
        deadline = time.monotonic() + 5
        while redis_client.exists(f"{PREFIX}:shared:k:short"):  # Redis expires it itself
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        assert await reader.get("short") is None
        await writer.set("other", 3, tags=["t"])  # a write trims expired index members
        assert redis_client.zrange(f"{PREFIX}:shared:keys", 0, -1) == [b"long", b"other"]
        assert redis_client.zrange(f"{PREFIX}:shared:t:t", 0, -1) == [b"long", b"other"]
        # the set lives as long as its longest-lived member ("other": default_ttl 300 s)
        assert 299_000 < redis_client.pttl(f"{PREFIX}:shared:t:t") <= 300_000
        await writer.close()
        await reader.close()

    run(scenario())


def test_a_level_2_hit_keeps_the_remaining_ttl_in_level_1(
    redis_url: str, redis_client: redis.Redis
) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        writer = Cache("shared", CacheConfig(redis_url=redis_url))
        reader = Cache("shared", CacheConfig(redis_url=redis_url), clock=clock)
        await writer.set("k", "v", ttl=30)
        assert await reader.get("k") == "v"
        clock.advance(29)
        assert await reader.get("k") == "v"  # level 1, within the copied TTL
        assert reader.stats()["hits"] == 2
        clock.advance(2)
        redis_client.delete(f"{PREFIX}:shared:k:k")  # as if it expired there too
        assert await reader.get("k") is None
        assert reader.stats()["expirations"] == 1
        await writer.close()
        await reader.close()

    run(scenario())


def test_one_hundred_concurrent_misses_load_once_with_level_2(
    redis_url: str, redis_client: redis.Redis
) -> None:
    async def scenario() -> None:
        cache = Cache("shared", CacheConfig(redis_url=redis_url))
        calls = 0

        async def loader() -> str:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.05)
            return "value"

        results = await asyncio.gather(*[cache.get_or_load("hot", loader) for _ in range(100)])
        assert calls == 1 and set(results) == {"value"}
        assert not redis_client.exists(f"{PREFIX}:shared:lock:hot")  # released
        await cache.close()

    run(scenario())


def test_a_redis_that_is_down_leaves_level_1_working(redis_url: str) -> None:
    async def scenario() -> None:
        from ports import free_port as _free_port

        cache = Cache("down", CacheConfig(redis_url=f"redis://127.0.0.1:{_free_port()}/0"))
        await cache.set("k", 1)
        assert await cache.get("k") == 1
        assert await cache.get_or_load("other", lambda: 2) == 2
        assert await cache.invalidate_tags("t") == 0
        assert cache.stats()["l2_errors"] >= 1
        await cache.close()

    run(scenario())


def test_a_lost_subscription_drops_level_1_which_refills_from_level_2(
    redis_url: str, redis_client: redis.Redis
) -> None:
    async def scenario() -> None:
        cache = Cache("shared", CacheConfig(redis_url=redis_url))
        await cache.set("k", 1)
        assert cache.stats()["l1_entries"] == 1
        # messages published while the subscriber is away are lost: level 1 cannot be trusted
        assert redis_client.client_kill_filter(_type="pubsub") == 1
        deadline = time.monotonic() + 5
        while cache.stats()["l1_entries"]:
            assert time.monotonic() < deadline, "level 1 kept after the subscription was lost"
            await asyncio.sleep(0.02)
        assert await cache.get("k") == 1  # from level 2
        deadline = time.monotonic() + 5
        while not redis_client.pubsub_numsub(f"{PREFIX}:shared:invalidations")[0][1]:
            assert time.monotonic() < deadline, "not subscribed again"
            await asyncio.sleep(0.02)
        await cache.close()

    run(scenario())


def test_malformed_invalidation_messages_are_counted_and_ignored(
    redis_url: str, redis_client: redis.Redis
) -> None:
    async def scenario() -> None:
        cache = Cache("shared", CacheConfig(redis_url=redis_url))
        await cache.set("k", 1)
        channel = f"{PREFIX}:shared:invalidations"
        redis_client.publish(channel, b"not json")
        redis_client.publish(channel, b'{"o": "x", "keys": [1]}')
        redis_client.publish(channel, b'{"o": "x", "keys": ["k"]}')
        deadline = time.monotonic() + 5
        while cache.stats()["l1_entries"]:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        assert cache._levels2 is not None
        (level2,) = cache._levels2._by_loop.values()
        assert (level2.listener.bad_messages, level2.listener.received) == (2, 1)
        await cache.close()

    run(scenario())
