"""Cache operations per second: otel_perf.cache level 1, level 2 (Redis), cachetools baseline.

``python -m benchmarks.cache_ops [--ops N] [--l2-ops N] [--keys N] [--rounds N]``

Level 1: ``Cache.set`` / ``Cache.get`` (awaited, one at a time) on ``--keys`` keys cycling,
all hits, with the global OpenTelemetry providers (no SDK installed: spans and metrics are
no-ops, as in an app that has not configured OpenTelemetry). Level 2: a redis-server started
by the benchmark on a free loopback port (no persistence); ``set`` writes both levels (one Lua
script call per set); ``get`` is a level-1 miss and a level-2 hit (the reader's level 1 holds one
entry and the keys cycle). Baseline, same run: ``cachetools.TTLCache`` ``c[k] = v`` and
``c.get(k)`` with the same keys and values (in-process, no serialisation, no telemetry).
Each figure is the median of ``--rounds`` rounds. Prints a table, then one JSON object as the
last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import cachetools

from benchmarks._redis import RedisMissing, redis_server
from otel_perf.cache import Cache, CacheConfig

VALUE = {"id": 1234, "name": "Widget, blue", "price": 12.5, "tags": ["a", "b"], "stock": True}


async def rate(ops: int, keys: list[str], op: Callable[[str], Awaitable[Any]]) -> float:
    """Operations per second of ``ops`` awaited calls of ``op`` over ``keys`` in turn."""
    start = time.perf_counter()
    for i in range(ops):
        await op(keys[i % len(keys)])
    return ops / (time.perf_counter() - start)


def rate_sync(ops: int, keys: list[str], op: Callable[[str], Any]) -> float:
    start = time.perf_counter()
    for i in range(ops):
        op(keys[i % len(keys)])
    return ops / (time.perf_counter() - start)


async def measure_l1(ops: int, keys: list[str]) -> tuple[float, float]:
    cache = Cache("bench-l1", CacheConfig(max_size=len(keys)))

    async def put(key: str) -> None:
        await cache.set(key, VALUE)

    set_rate = await rate(ops, keys, put)
    get_rate = await rate(ops, keys, cache.get)
    assert cache.stats()["misses"] == 0
    await cache.close()
    return set_rate, get_rate


async def measure_l2(ops: int, keys: list[str], url: str) -> tuple[float, float]:
    writer = Cache("bench-l2", CacheConfig(redis_url=url, max_size=len(keys)))
    reader = Cache("bench-l2", CacheConfig(redis_url=url, max_size=1))

    async def put(key: str) -> None:
        await writer.set(key, VALUE)

    set_rate = await rate(ops, keys, put)
    await reader.get(keys[0])  # connect and subscribe outside the timing
    get_rate = await rate(ops, keys, reader.get)
    stats = reader.stats()
    assert stats["misses"] == 0 and stats["l2_errors"] == 0 and writer.stats()["l2_errors"] == 0
    await writer.close()
    await reader.close()
    return set_rate, get_rate


def measure_cachetools(ops: int, keys: list[str]) -> tuple[float, float]:
    cache: cachetools.TTLCache[str, Any] = cachetools.TTLCache(maxsize=len(keys), ttl=300)

    def put(key: str) -> None:
        cache[key] = VALUE

    return rate_sync(ops, keys, put), rate_sync(ops, keys, cache.get)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cache_ops", description=__doc__)
    parser.add_argument("--ops", type=int, default=100_000, help="level-1 and baseline ops")
    parser.add_argument("--l2-ops", type=int, default=5_000, help="level-2 ops (bounded)")
    parser.add_argument("--keys", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if min(args.ops, args.l2_ops, args.keys, args.rounds) < 1:
        parser.error("--ops, --l2-ops, --keys and --rounds must be at least 1")
    args.l2_ops = min(args.l2_ops, 100_000)
    return args


def measure_rounds(args: argparse.Namespace, keys: list[str]) -> dict[str, list[float]]:
    """Ops/s of every operation in each round, level 2 against one throwaway redis-server."""
    rounds: dict[str, list[float]] = {}
    with redis_server() as url:
        for n in range(args.rounds):
            print(f"round {n + 1}/{args.rounds}...", file=sys.stderr)
            figures = zip(
                ("l1_set", "l1_get", "l2_set", "l2_get", "cachetools_set", "cachetools_get"),
                (
                    *asyncio.run(measure_l1(args.ops, keys)),
                    *asyncio.run(measure_l2(args.l2_ops, keys, url)),
                    *measure_cachetools(args.ops, keys),
                ),
                strict=True,
            )
            for name, value in figures:
                rounds.setdefault(name, []).append(value)
    return rounds


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    keys = [f"product:{i}" for i in range(args.keys)]
    try:
        rounds = measure_rounds(args, keys)
    except RedisMissing as exc:
        raise SystemExit(str(exc)) from None
    ops = {name: round(statistics.median(values)) for name, values in rounds.items()}
    order = ("l1_get", "l1_set", "l2_get", "l2_set", "cachetools_get", "cachetools_set")
    ops = {name: ops[name] for name in order}
    ratio = round(ops["l1_get"] / ops["cachetools_get"], 4)
    print(f"cache ops/s, median of {args.rounds} rounds ({args.keys} keys, value {VALUE})")
    for name, value in ops.items():
        print(f"  {name:<15} {value:>12,}  ({1e6 / value:.2f} µs/op)")
    print(f"  l1_get / cachetools_get = {ratio}")
    print(json.dumps({"ops_per_s": ops, "ratio_l1_get_vs_cachetools": ratio}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
