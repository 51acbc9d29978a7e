"""``@cached`` on sync and async functions; ``cached_query`` with smart TTL (injected clock)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from cache_support import FakeClock

from otel_perf.cache import CacheValueError, cached, cached_query, configure_cache, get_cache
from otel_perf.cache.smart_ttl import smart_ttl


def test_cached_sync_function_runs_once_per_arguments() -> None:
    calls: list[tuple[int, str]] = []

    @cached("fn", ttl=60, tags=["prices"])
    def price(product: int, currency: str = "EUR") -> dict[str, Any]:
        calls.append((product, currency))
        return {"product": product, "currency": currency, "amount": product * 10}

    assert price(1) == {"product": 1, "currency": "EUR", "amount": 10}
    assert price(1) == {"product": 1, "currency": "EUR", "amount": 10}
    assert price(1, currency="USD")["currency"] == "USD"
    assert calls == [(1, "EUR"), (1, "USD")]
    assert price.__name__ == "price"
    assert asyncio.run(get_cache("fn").invalidate_tags("prices")) == 2
    price(1)
    assert len(calls) == 3


def test_cached_sync_function_called_from_many_threads_loads_once() -> None:
    calls = 0
    started = threading.Barrier(8)

    @cached("threads")
    def slow() -> int:
        nonlocal calls
        calls += 1
        return 7

    results: list[int] = []

    def worker() -> None:
        started.wait()
        results.append(slow())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [7] * 8 and calls == 1


def test_cached_async_function_with_a_custom_key() -> None:
    calls = 0

    @cached("fn-async", key=lambda user, **_: f"user:{user.id}")
    async def profile(user: Any, verbose: bool = False) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        return {"id": user.id}

    class User:
        id = 5

    async def scenario() -> None:
        results = await asyncio.gather(*[profile(User()) for _ in range(20)])
        assert results == [{"id": 5}] * 20
        assert await get_cache("fn-async").get("user:5") == {"id": 5}

    asyncio.run(scenario())
    assert calls == 1


def test_cached_refuses_arguments_it_cannot_key() -> None:
    @cached("fn-bad")
    def f(x: Any) -> int:
        return 1

    with pytest.raises(CacheValueError, match="arguments must be JSON-serialisable.*pass key="):
        f(object())


def test_a_cached_function_calling_another_cached_function() -> None:
    @cached("nested")
    def inner(x: int) -> int:
        return x + 1

    @cached("nested")
    def outer(x: int) -> int:
        return inner(x) * 2

    assert outer(1) == 4 and outer(1) == 4


class Database:
    """A table whose row the test changes; counts the queries that reach it."""

    def __init__(self) -> None:
        self.price = 10
        self.queries = 0

    def run(self, sql: str, params: Any) -> list[list[Any]]:
        self.queries += 1
        return [[params[0], self.price]]


SQL = "SELECT price FROM products WHERE id = %s"
FINGERPRINT = "SELECT price FROM products WHERE id = ?"


def test_cached_query_smart_ttl_follows_the_interval_between_changes(clock: FakeClock) -> None:
    db = Database()
    cache = configure_cache("db", clock=clock, default_ttl=300, smart_ttl_bounds=(5.0, 3600.0))

    def query() -> Any:
        return asyncio.run(cached_query(SQL, (1,), db.run))

    def explained() -> dict[str, Any]:
        found: dict[str, Any] = cache.stats()["smart_ttl"][FINGERPRINT]
        return found

    assert query() == [[1, 10]] and explained()["ttl_s"] == 300.0
    clock.advance(299)
    assert query() == [[1, 10]] and db.queries == 1  # still cached
    for price in (11, 12):  # two changes, 301 s apart: TTL = 0.5 × 301
        clock.advance(301)
        db.price = price
        assert query() == [[1, price]]
    assert explained()["ttl_s"] == 150.5 and explained()["changes"] == 2
    assert explained()["explanation"].startswith("0.5 × 301 s (median of 1 intervals")
    clock.advance(151)
    db.price = 13  # the data changes faster: TTL shrinks
    query()
    assert explained()["ttl_s"] == 0.5 * (301 + 151) / 2
    for _ in range(3):  # unchanged for longer than the median: counted as an open interval
        clock.advance(explained()["ttl_s"] + 1)
        query()
    assert (
        explained()["ttl_s"] == 150.5 and "unchanged since the last" in explained()["explanation"]
    )
    for price in (14, 15, 16):  # the data changes slowly now: TTL grows
        clock.advance(2000)
        db.price = price
        query()
    assert explained()["ttl_s"] == 1000.0 and explained()["median_change_interval_s"] == 2000.0
    assert db.queries == 10  # 1 + 2 changes + 1 + 3 unchanged + 3 changes


def test_cached_query_smart_ttl_is_bounded(clock: FakeClock) -> None:
    db = Database()
    configure_cache("db", clock=clock, default_ttl=1, smart_ttl_bounds=(5.0, 60.0))
    for price in range(20, 24):  # changes every 2 s: 0.5 × 2 = 1 s, raised to the 5 s floor
        clock.advance(2)
        db.price = price
        asyncio.run(cached_query(SQL, (1,), db.run))
    explanation = get_cache("db").stats()["smart_ttl"][FINGERPRINT]
    assert explanation["ttl_s"] == 5.0 and "clamped to 5 s" in explanation["explanation"]
    assert smart_ttl([10_000.0], 0.0, (5.0, 60.0), 300.0)[0] == 60.0


def test_cached_query_with_an_explicit_ttl_and_separate_params(clock: FakeClock) -> None:
    db = Database()
    configure_cache("db", clock=clock)

    async def scenario() -> None:
        assert await cached_query(SQL, (1,), db.run, ttl=10) == [[1, 10]]
        assert await cached_query(SQL, (2,), db.run, ttl=10) == [[2, 10]]
        assert await cached_query(SQL.lower(), (1,), run=db.run, ttl=10) == [[1, 10]]
        assert db.queries == 2  # the same fingerprint and params share an entry
        clock.advance(11)
        await cached_query(SQL, (1,), db.run, ttl=10)
        assert db.queries == 3
        with pytest.raises(CacheValueError, match="run must be a callable"):
            await cached_query(SQL, (1,))
        with pytest.raises(CacheValueError, match="sql must be a non-empty statement"):
            await cached_query("  ", (), db.run)

    asyncio.run(scenario())
    assert get_cache("db").stats()["smart_ttl"] == {}


def test_smart_ttl_math() -> None:
    assert smart_ttl([], 0.0, (5.0, 3600.0), 300.0) == (
        300.0,
        "default_ttl 300 s: fewer than two result changes seen",
    )
    assert smart_ttl([20.0, 40.0, 30.0], 5.0, (5.0, 3600.0), 300.0)[0] == 15.0
    assert smart_ttl([20.0], 100.0, (5.0, 3600.0), 300.0)[0] == 30.0  # median(20, 100) / 2
    assert smart_ttl([2.0], 0.0, (5.0, 3600.0), 300.0)[0] == 5.0
