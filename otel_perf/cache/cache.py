"""``Cache``: one named cache — level 1 in-process, level 2 in Redis when configured.

Reads go level 1, then level 2 (a level-2 hit is copied into level 1 with what is left of
its TTL). Writes go to both. A level-2 failure is logged and counted (``l2_errors``) and
the operation carries on with level 1 alone: the cache never breaks its caller for Redis.

This module holds the core operations (get, set, the removals, stats); the class takes
loading (``loading``), warm-up (``warmup``) and its level-2 helpers (``level2_access``)
from the modules next to it, key and tag checks from ``keys`` and what a hit returns from ``hits``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import Span

from otel_perf.cache.codec import encode
from otel_perf.cache.config import CacheConfig, CacheValueError
from otel_perf.cache.hits import copy_value, describe_hit, first_value
from otel_perf.cache.keys import MAX_KEY_CHARS, MISSING, check_key, check_tags
from otel_perf.cache.levels import Levels2
from otel_perf.cache.loading import Loading
from otel_perf.cache.local import IMMUTABLE, UNSET, Entry, LocalStore, Lookup, Removal
from otel_perf.cache.smart_ttl import SmartTTLBook
from otel_perf.cache.telemetry import (
    INTERNAL,
    NO_SPAN,
    SpanScope,
    Telemetry,
    key_attributes,
    telemetry_for,
)
from otel_perf.cache.warmup import Warming, Warmup

if TYPE_CHECKING:
    from otel_perf.cache.remote import RemoteEntry

LEVELS = ("l1", "l2")


class Cache(Loading, Warming):
    """A named two-level cache; see docs/app-side.md, "otel_perf.cache"."""

    def __init__(
        self,
        name: str,
        config: CacheConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.clock = clock
        self._l1 = LocalStore(config.max_size, clock)
        self._telemetry = telemetry or telemetry_for()
        self._telemetry.watch(self)
        origin = f"{os.getpid()}-{secrets.token_hex(6)}"  # tags what this cache publishes
        self._levels2 = (
            None
            if config.redis_url is None
            else Levels2(name, config, origin, self._apply_remote, self._reset_l1)
        )
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self._warmups: list[Warmup] = []
        self.smart_ttl = SmartTTLBook(config.smart_ttl_bounds, config.default_ttl, clock)
        self._attrs = {"cache.name": name}
        self._hit_attrs = {level: {"cache.name": name, "cache.level": level} for level in LEVELS}
        self._counts = dict.fromkeys(
            ("hits", "misses", "evictions", "expirations", "invalidations", "loads"), 0
        )
        self._load_ms_total = 0.0
        self._saved_ms_total = 0.0

    # -- reads ----------------------------------------------------------------

    async def get(self, key: str, default: Any = None) -> Any:
        """The value under ``key``, or ``default`` when neither level has it."""
        value = await self._get(key)
        return default if value is MISSING else value

    async def _get(self, key: str) -> Any:
        if type(key) is not str or not key or len(key) > MAX_KEY_CHARS:
            check_key(self.name, key)
        with self._span("cache.get", key) as span:
            entry = self._l1.hit(key)
            if entry is not None:
                return self._hit(span, entry, "l1")
            look = self._l1.get(key)  # it missed: drop it if expired, and say why
            if look.expired is not None:
                self._expired([Removal(key, look.expired, "ttl")], span=True)
            if look.entry is not None:
                return self._hit(span, look.entry, "l1")
            found = None if self._levels2 is None else await self._remote_get(key)
            if found is not None:
                entry = self._entry_from_l2(found)
                self._evicted(self._l1.put(key, entry))
                return self._hit(span, entry, "l2")
            self._miss(span, look)
            return MISSING

    def _hit(self, span: Span, entry: Entry, level: str) -> Any:
        self._counts["hits"] += 1
        self._telemetry.hits.add(1, self._hit_attrs[level])
        if entry.load_ms is not None:
            self._saved_ms_total += entry.load_ms
        if span.is_recording():
            describe_hit(span, entry, level)
        value = entry.value
        if value is UNSET:
            return first_value(entry)
        if entry.mutable:
            return copy_value(entry, value)
        return value

    def _miss(self, span: Span, look: Lookup) -> None:
        self._counts["misses"] += 1
        self._telemetry.misses.add(1, self._attrs)
        if not span.is_recording():
            return
        span.set_attributes({"cache.hit": False, "cache.miss_reason": look.miss_reason})
        if look.expired_ago_s is not None:
            span.set_attribute("cache.expired_ago_s", look.expired_ago_s)

    def _entry_from_l2(self, found: RemoteEntry) -> Entry:
        now = self.clock()
        age_s = max(0.0, time.time() - found.created_unix)
        return Entry(found.blob, now + found.ttl_s, now - age_s, found.tags, found.load_ms)

    # -- writes ---------------------------------------------------------------

    async def set(
        self,
        key: str,
        value: Any,
        *,
        ttl: float | None = None,
        tags: Iterable[str] = (),
        load_ms: float | None = None,
    ) -> None:
        """Store ``value`` under ``key`` in both levels.

        Raises:
            CacheValueError: bad key, tags or TTL; a value neither bytes nor JSON-serialisable;
                a serialised value over ``max_value_bytes``. The cache is left as it was.
        """
        check_key(self.name, key)
        ttl_s = self._ttl(key, ttl)
        tagset = check_tags(self.name, key, tags)
        with self._span("cache.put", key) as span:
            encoded = encode(self.name, key, value, self.config)
            if span.is_recording():
                span.set_attributes(
                    {
                        "cache.ttl": ttl_s,
                        "cache.item_size": len(encoded.blob),
                        "cache.compressed": encoded.compressed,
                    }
                )
            now = self.clock()
            kept = value if type(value) in IMMUTABLE else UNSET
            entry = Entry(encoded.blob, now + ttl_s, now, tagset, load_ms, kept)
            self._evicted(self._l1.put(key, entry))
            if self._levels2 is None:
                return
            level2 = await self._level2_here()
            if level2 is not None:
                await self._guard(level2.remote.set(key, encoded.blob, ttl_s, tagset, load_ms))

    def _ttl(self, key: str, ttl: float | None) -> float:
        if ttl is None:
            return self.config.default_ttl
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0:
            raise CacheValueError(
                f"cache {self.name!r} key {key!r}: ttl must be a positive number of seconds,"
                f" got {ttl!r}"
            )
        return float(ttl)

    # -- removals -------------------------------------------------------------

    async def delete(self, *keys: str) -> int:
        """Remove ``keys`` from both levels; returns how many were present."""
        for key in keys:
            check_key(self.name, key)
        if not keys:
            return 0
        with self._span("cache.remove", keys[0] if len(keys) == 1 else None) as span:
            span.set_attribute("cache.operation", "delete")
            removed = self._l1.remove(keys)
            if len(keys) == 1 and removed:
                self._describe_removed(span, removed[0].entry)
            level2 = await self._level2_here()
            remote: list[str] = []
            if level2 is not None:
                remote = await self._guard(level2.remote.delete(keys), [])
            return self._invalidated(span, removed, remote)

    async def invalidate_tags(self, *tags: str) -> int:
        """Remove every entry carrying any of ``tags``, from both levels (and other processes'
        level 1); returns how many entries went."""
        total = 0
        for tag in tags:
            check_tags(self.name, "-", [tag])
            with self._span("cache.remove") as span:
                span.set_attributes({"cache.operation": "tag", "cache.tag": tag})
                level2 = await self._level2_here()
                remote: list[str] = []
                if level2 is not None:
                    remote = await self._guard(level2.remote.invalidate_tag(tag), [])
                removed = self._l1.remove_tag(tag) + self._l1.remove(remote, "tag")
                total += self._invalidated(span, removed, remote)
        return total

    async def invalidate_pattern(self, pattern: str) -> int:
        """Remove every key matching the fnmatch-style ``pattern`` (``*``, ``?``, ``[seq]``),
        from both levels; returns how many entries went."""
        if not isinstance(pattern, str) or not pattern:
            raise CacheValueError(f"cache {self.name!r}: pattern must be a non-empty string")
        with self._span("cache.remove") as span:
            span.set_attributes({"cache.operation": "pattern", "cache.pattern": pattern})
            removed = self._l1.remove_pattern(pattern)
            level2 = await self._level2_here()
            remote: list[str] = []
            if level2 is not None:
                matches = _matcher(pattern)
                remote = await self._guard(level2.remote.invalidate_pattern(pattern, matches), [])
            return self._invalidated(span, removed, remote)

    def _invalidated(self, span: Span, removed: list[Removal], remote: list[str]) -> int:
        count = len({r.key for r in removed} | set(remote))
        self._counts["invalidations"] += count
        for level, n in (("l1", len(removed)), ("l2", len(remote))):
            if n:
                self._telemetry.invalidations.add(
                    n, {"cache.name": self.name, "cache.level": level}
                )
        span.set_attribute("cache.removed", count)
        return count

    def _describe_removed(self, span: Span, entry: Entry) -> None:
        span.set_attributes(
            {
                "cache.entry_age_s": max(0.0, self.clock() - entry.created_at),
                "cache.entry_hits": entry.hits,
                "cache.item_size": len(entry.blob),
            }
        )

    def _evicted(self, removals: list[Removal]) -> None:
        for removal in removals:
            if removal.reason == "ttl":
                self._expired([removal], span=False)
                continue
            self._counts["evictions"] += 1
            self._telemetry.evictions.add(
                1, {"cache.name": self.name, "cache.level": "l1", "cache.eviction.reason": "size"}
            )

    def _expired(self, removals: list[Removal], *, span: bool) -> None:
        for removal in removals:
            self._counts["expirations"] += 1
            self._telemetry.evictions.add(
                1, {"cache.name": self.name, "cache.level": "l1", "cache.eviction.reason": "ttl"}
            )
            if span:
                with self._span("cache.remove", removal.key) as remove:
                    remove.set_attribute("cache.operation", "expire")
                    self._describe_removed(remove, removal.entry)

    # -- state ----------------------------------------------------------------

    def gauge_readings(self) -> tuple[int, int]:
        snapshot = self._l1.snapshot()
        self._expired(snapshot.expired, span=False)
        return snapshot.entries, snapshot.bytes

    def stats(self) -> dict[str, Any]:
        """Counters since creation and level-1 contents (docs/app-side.md describes each field)."""
        snapshot = self._l1.snapshot()
        self._expired(snapshot.expired, span=False)
        hits, misses = self._counts["hits"], self._counts["misses"]
        return {
            "name": self.name,
            **{k: self._counts[k] for k in ("hits", "misses")},
            "hit_ratio": hits / (hits + misses) if hits + misses else 0.0,
            "l1_entries": snapshot.entries,
            "l1_bytes": snapshot.bytes,
            **{k: self._counts[k] for k in ("evictions", "expirations", "invalidations", "loads")},
            "load_ms_total": self._load_ms_total,
            "saved_ms_total": self._saved_ms_total,
            "compressed_entries": snapshot.compressed,
            "level2": self.config.redis_url is not None,
            "l2_errors": 0 if self._levels2 is None else self._levels2.errors,
            "recent_forgotten": self._l1.forgotten,
            "smart_ttl": self.smart_ttl.explain(),
        }

    async def close(self) -> None:
        """Stop listening and close level-2 connections made from the running loop."""
        self._telemetry.unwatch(self)
        if self._levels2 is not None:
            await self._levels2.close()

    def detach(self) -> None:
        """Stop reporting gauges for this cache (it was replaced in the registry)."""
        self._telemetry.unwatch(self)

    def _span(self, name: str, key: str | None = None) -> Any:
        tracer = self._telemetry.live_tracer()
        if tracer is None and name != "cache.load":
            return NO_SPAN  # what a no-op tracer would give, without making it
        attributes = key_attributes(self.name, key) if key is not None else self._attrs
        if tracer is None or name == "cache.load":  # current: the loader's spans are children
            return self._telemetry.tracer.start_as_current_span(
                name, kind=INTERNAL, attributes=attributes
            )
        return SpanScope(tracer.start_span(name, kind=INTERNAL, attributes=attributes))


def _matcher(pattern: str) -> Callable[[str], bool]:
    from fnmatch import fnmatchcase

    return lambda key: fnmatchcase(key, pattern)
