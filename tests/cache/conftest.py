"""A real redis-server on a free loopback port for the cache tests (one per session)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from cache_support import FakeClock

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # benchmarks/ is a top-level folder, not installed

from benchmarks._redis import RedisMissing, redis_server  # noqa: E402


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """``redis://127.0.0.1:N/0`` of a redis-server started for this session and killed after."""
    try:
        with redis_server() as url:
            yield url
    except RedisMissing:
        pytest.skip("redis-server is not installed (make test installs it via .ci/services.sh)")


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A synchronous client on the session's server, emptied before each test."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def _forget_caches() -> Iterator[None]:
    """Each test starts with no named caches (the registry is process-wide)."""
    from otel_perf.cache import registry

    yield
    with registry._lock:
        for cache in registry._caches.values():
            cache.detach()
        registry._caches.clear()
