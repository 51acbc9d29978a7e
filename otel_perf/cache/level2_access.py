"""The cache's side of level 2: reaching the current event loop's :class:`Level2`,
guarding its calls, and applying other processes' invalidations to level 1.

:class:`Level2Access` is part of :class:`~otel_perf.cache.Cache`, which sets up the
attributes declared on it.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # redis-py is needed only with level 2 (imported when it is first used)
    from otel_perf.cache.levels import Level2, Levels2
    from otel_perf.cache.local import LocalStore
    from otel_perf.cache.remote import RemoteEntry
    from otel_perf.cache.telemetry import Telemetry


class Level2Access:
    """Level-2 helpers of :class:`~otel_perf.cache.Cache`."""

    name: str
    _l1: LocalStore
    _levels2: Levels2 | None
    _counts: dict[str, int]
    _telemetry: Telemetry

    async def _level2_here(self) -> Level2 | None:
        return None if self._levels2 is None else await self._levels2.here()

    async def _guard(self, call: Awaitable[Any], fallback: Any = None) -> Any:
        assert self._levels2 is not None  # only called with a level 2 in hand
        return await self._levels2.guard(call, fallback)

    async def _remote_get(self, key: str) -> RemoteEntry | None:
        level2 = await self._level2_here()
        if level2 is None:
            return None
        found: RemoteEntry | None = await self._guard(level2.remote.get(key), None)
        return found

    def _apply_remote(self, keys: list[str], tags: list[str], patterns: list[str]) -> None:
        removed = self._l1.remove(keys, "remote")
        for tag in tags:
            removed += self._l1.remove_tag(tag)
        for pattern in patterns:
            removed += self._l1.remove_pattern(pattern)
        if removed:
            self._counts["invalidations"] += len(removed)
            attrs = {"cache.name": self.name, "cache.level": "l1"}
            self._telemetry.invalidations.add(len(removed), attrs)

    def _reset_l1(self) -> None:
        self._l1.clear()
