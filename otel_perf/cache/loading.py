"""Loading through the cache: one loader per key at a time.

Concurrent callers in this process wait for the loader already running; with level 2 a
short Redis lock (``LOCK_TTL_S``) makes other processes wait (at most ``LOCK_WAIT_S``) for
the value it stores. :class:`Loading` is part of :class:`~otel_perf.cache.Cache`, which
sets up the attributes declared on it.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from otel_perf.cache.keys import MISSING
from otel_perf.cache.level2_access import Level2Access
from otel_perf.cache.writer import CacheWrites

if TYPE_CHECKING:
    from otel_perf.cache.remote import Remote

LOCK_TTL_S = 10.0  # the cross-process load lock outlives a crashed loader by at most this
LOCK_WAIT_S = 10.0

Loader = Callable[[], Awaitable[Any] | Any]


class Loading(Level2Access, CacheWrites):
    """``get_or_load`` and ``load_through`` of :class:`~otel_perf.cache.Cache`."""

    _inflight: dict[str, asyncio.Future[Any]]
    _load_ms_total: float
    _attrs: dict[str, str]

    async def get_or_load(
        self,
        key: str,
        loader: Loader,
        *,
        ttl: float | None = None,
        tags: Iterable[str] = (),
    ) -> Any:
        """The cached value, or ``loader()``'s result stored under ``key``.

        One loader runs per key at a time: concurrent callers in this process wait for it,
        and with level 2 a short Redis lock makes other processes wait for the stored value.
        """
        return await self.load_through(key, loader, ttl=ttl, tags=tags)

    async def load_through(
        self,
        key: str,
        loader: Loader,
        *,
        ttl: float | None = None,
        tags: Iterable[str] = (),
        ttl_for: Callable[[Any], float] | None = None,
    ) -> Any:
        """:meth:`get_or_load` whose TTL may come from the loaded value (``ttl_for(value)``)."""
        value = await self._get(key)
        if value is not MISSING:
            return value
        loop = asyncio.get_running_loop()
        pending = self._inflight.get(key)
        if pending is not None and pending.get_loop() is loop:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not pending.cancelled() or (task is not None and task.cancelling()):
                    raise
        future: asyncio.Future[Any] = loop.create_future()
        self._inflight[key] = future
        try:
            value = await self._load_once(key, loader, ttl, tags, ttl_for)
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # the waiters re-raise it; none may be waiting
            raise
        except BaseException:
            future.cancel()
            raise
        finally:
            if self._inflight.get(key) is future:
                del self._inflight[key]
        future.set_result(value)
        return value

    async def _load_once(
        self,
        key: str,
        loader: Loader,
        ttl: float | None,
        tags: Iterable[str],
        ttl_for: Callable[[Any], float] | None,
    ) -> Any:
        level2 = await self._level2_here()
        if level2 is None:
            return await self._run_loader(key, loader, ttl, tags, ttl_for)
        remote = level2.remote
        token = await self._guard(remote.try_lock(key, LOCK_TTL_S), "")
        if token is None:  # another process is loading this key: wait for its value
            value = await self._wait_for_other(remote, key)
            if value is not MISSING:
                return value
            token = await self._guard(remote.try_lock(key, LOCK_TTL_S), "")
        try:
            return await self._run_loader(key, loader, ttl, tags, ttl_for)
        finally:
            if token:
                await self._guard(remote.unlock(key, token), None)

    async def _wait_for_other(self, remote: Remote, key: str) -> Any:
        loop = asyncio.get_running_loop()
        deadline, delay = loop.time() + LOCK_WAIT_S, 0.005
        while loop.time() < deadline:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
            value = await self._get(key)
            if value is not MISSING or not await self._guard(remote.is_locked(key), False):
                return value
        return MISSING

    async def _run_loader(
        self,
        key: str,
        loader: Loader,
        ttl: float | None,
        tags: Iterable[str],
        ttl_for: Callable[[Any], float] | None,
    ) -> Any:
        with self._span("cache.load", key) as span:
            start = time.perf_counter()
            value = loader()
            if inspect.isawaitable(value):
                value = await value
            load_ms = (time.perf_counter() - start) * 1000
            span.set_attribute("cache.load_ms", load_ms)
        self._counts["loads"] += 1
        self._load_ms_total += load_ms
        self._telemetry.load_duration.record(load_ms, self._attrs)
        if ttl_for is not None:
            ttl = ttl_for(value)
        await self.set(key, value, ttl=ttl, tags=tags, load_ms=load_ms)
        return value
