"""Warm-up: loaders of ``(key, value)`` pairs registered on a cache and written on demand.

:class:`Warming` is part of :class:`~otel_perf.cache.Cache`, which sets up the attributes
declared on it.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from otel_perf.cache.config import CacheValueError
from otel_perf.cache.keys import check_tags
from otel_perf.cache.writer import CacheWrites

WarmupLoader = Callable[[], Awaitable[Iterable[tuple[str, Any]]] | Iterable[tuple[str, Any]]]


@dataclass(frozen=True)
class Warmup:
    loader: WarmupLoader
    tags: frozenset[str]
    ttl: float | None


class Warming(CacheWrites):
    """``register_warmup`` and ``warm_up`` of :class:`~otel_perf.cache.Cache`."""

    name: str
    _warmups: list[Warmup]

    def register_warmup(
        self, loader: WarmupLoader, *, tags: Iterable[str] = (), ttl: float | None = None
    ) -> None:
        """Add a loader of ``(key, value)`` pairs that :meth:`warm_up` writes."""
        if not callable(loader):
            raise CacheValueError(f"cache {self.name!r}: warm-up loader must be callable")
        if ttl is not None:
            self._ttl("<warm-up>", ttl)
        self._warmups.append(Warmup(loader, check_tags(self.name, "<warm-up>", tags), ttl))

    async def warm_up(self, keys: Iterable[str] | None = None) -> int:
        """Run every registered loader and store its pairs (only ``keys`` when given);
        returns the entries written."""
        wanted = None if keys is None else set(keys)
        written = 0
        for warmup in self._warmups:
            pairs = warmup.loader()
            if inspect.isawaitable(pairs):
                pairs = await pairs
            for key, value in pairs:
                if wanted is None or key in wanted:
                    await self.set(key, value, ttl=warmup.ttl, tags=warmup.tags)
                    written += 1
        return written
