"""Level 2 as the cache sees it: one Redis client and subscriber per event loop, and the
guard that turns a Redis failure into a logged, counted fallback.

redis-py's asyncio connections belong to the loop that opened them, so a cache used from
two loops (an app's loop and the background loop of ``@cached`` sync functions, say) holds
one :class:`Level2` for each; the one of a loop that ends (``asyncio.run`` returning)
closes with it. redis-py is imported only here, when level 2 is first used.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from otel_perf.cache.config import CacheConfig, CacheValueError

if TYPE_CHECKING:
    from otel_perf.cache.coherence import Apply, Listener
    from otel_perf.cache.remote import Remote

logger = logging.getLogger("otel_perf.cache")
T = TypeVar("T")
RETRY_S = 5.0  # after level 2 could not be reached, level 1 works alone this long
LOG_EVERY_S = 10.0  # at most one warning per cache this often


@dataclass
class Level2:
    """Level 2 as used from one event loop: connected once ``ready`` is done."""

    remote: Remote
    listener: Listener
    ready: asyncio.Task[None]


class Levels2:
    """The cache ``name``'s level 2 per event loop; ``errors`` counts Redis failures."""

    def __init__(
        self,
        name: str,
        config: CacheConfig,
        origin: str,
        apply: Apply,
        reset: Callable[[], None],
    ) -> None:
        from redis.exceptions import RedisError

        self.name = name
        self.config = config
        self.origin = origin
        self.apply = apply
        self.reset = reset
        self.errors = 0
        self._failures: tuple[type[BaseException], ...] = (RedisError, OSError, CacheValueError)
        self._by_loop: dict[asyncio.AbstractEventLoop, Level2] = {}
        self._down_until = 0.0  # monotonic s
        self._logged_at = -LOG_EVERY_S

    async def here(self) -> Level2 | None:
        """Level 2 for the running loop, connected and subscribed; None while it is down."""
        if time.monotonic() < self._down_until:
            return None
        loop = asyncio.get_running_loop()
        level2 = self._by_loop.get(loop)
        if level2 is None:
            level2 = self._by_loop[loop] = self._open(loop)
        if not level2.ready.done():
            await asyncio.wait([level2.ready])
        if level2.ready.cancelled() or level2.ready.exception() is not None:
            self._by_loop.pop(loop, None)
            self._down_until = time.monotonic() + RETRY_S
            exc = None if level2.ready.cancelled() else level2.ready.exception()
            self._failed(f"unavailable, level 1 alone for {RETRY_S:g} s: {exc}")
            await self.guard(level2.remote.aclose(), None)
            return None
        return level2

    async def guard(self, call: Awaitable[T], fallback: Any) -> Any:
        """``await call``; a Redis failure is logged, counted and answered with ``fallback``."""
        try:
            return await call
        except self._failures as exc:
            self._failed(f"failed: {type(exc).__name__}: {exc}")
            return fallback

    async def close(self) -> None:
        """Close the level 2 of the running loop."""
        level2 = self._by_loop.pop(asyncio.get_running_loop(), None)
        if level2 is None:
            return
        if level2.ready.done() and not level2.ready.cancelled() and not level2.ready.exception():
            await level2.listener.aclose()
        elif not level2.ready.done():
            level2.ready.cancel()
        await level2.remote.aclose()

    def _open(self, loop: asyncio.AbstractEventLoop) -> Level2:
        from otel_perf.cache.coherence import Listener
        from otel_perf.cache.remote import Remote

        remote = Remote(self.name, self.config, self.origin)
        listener = Listener(remote, self.apply, self.reset, self._loop_ended)
        return Level2(remote, listener, loop.create_task(listener.start()))

    async def _loop_ended(self) -> None:
        level2 = self._by_loop.pop(asyncio.get_running_loop(), None)
        if level2 is not None:
            await level2.remote.aclose()

    def _failed(self, message: str) -> None:
        self.errors += 1
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_S:
            self._logged_at = now
            logger.warning("otel_perf.cache %r: level 2 %s", self.name, message)
