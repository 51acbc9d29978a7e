"""``Cache``: one named cache — level 1 in-process, level 2 in Redis when configured.

Reads go level 1, then level 2 (a level-2 hit is copied into level 1 with what is left of
its TTL). Writes go to both. A level-2 failure is logged and counted (``l2_errors``) and
the operation carries on with level 1 alone: the cache never breaks its caller for Redis.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import Span

from otel_perf.cache.codec import PLAIN, copy_json, decode, encode
from otel_perf.cache.config import CacheConfig, CacheValueError
from otel_perf.cache.levels import Levels2
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

if TYPE_CHECKING:  # redis-py is needed only with level 2 (imported when it is first used)
    from otel_perf.cache.levels import Level2
    from otel_perf.cache.remote import Remote, RemoteEntry

MISSING: Any = object()
LEVELS = ("l1", "l2")
NO_TAGS: frozenset[str] = frozenset()
MAX_KEY_CHARS = 4096
MAX_TAGS = 64
LOCK_TTL_S = 10.0  # the cross-process load lock outlives a crashed loader by at most this
LOCK_WAIT_S = 10.0

Loader = Callable[[], Awaitable[Any] | Any]
WarmupLoader = Callable[[], Awaitable[Iterable[tuple[str, Any]]] | Iterable[tuple[str, Any]]]


@dataclass(frozen=True)
class Warmup:
    loader: WarmupLoader
    tags: frozenset[str]
    ttl: float | None


def check_key(name: str, key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise CacheValueError(f"cache {name!r}: key must be a non-empty string, got {key!r}")
    if len(key) > MAX_KEY_CHARS:
        raise CacheValueError(
            f"cache {name!r}: key of {len(key)} characters is over {MAX_KEY_CHARS}: {key[:64]!r}…"
        )
    return key


def check_tags(name: str, key: str, tags: Iterable[str]) -> frozenset[str]:
    if tags == ():  # the default: nothing to check
        return NO_TAGS
    if isinstance(tags, str):
        raise CacheValueError(f"cache {name!r} key {key!r}: tags must be a list, got {tags!r}")
    found = frozenset(tags)
    for tag in found:
        if not isinstance(tag, str) or not tag or len(tag) > MAX_KEY_CHARS:
            raise CacheValueError(f"cache {name!r} key {key!r}: bad tag {tag!r}")
    if len(found) > MAX_TAGS:
        raise CacheValueError(f"cache {name!r} key {key!r}: {len(found)} tags, over {MAX_TAGS}")
    return found


class Cache:
    """A named two-level cache; see the README section "Cache: otel_perf.cache"."""

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
            self._describe_hit(span, entry, level)
        value = entry.value
        if value is UNSET:
            return self._first_value(entry)
        if entry.mutable:
            return self._copy(entry, value)
        return value

    @staticmethod
    def _first_value(entry: Entry) -> Any:
        """Decode ``entry``, keeping the result for later hits: as it is when immutable, to copy
        when a dict or list (then only if stored uncompressed, which bounds what is kept)."""
        value = decode(entry.blob)
        if type(value) in IMMUTABLE:
            entry.value = value
        elif entry.blob[1] == PLAIN:
            try:
                copy = copy_json(value)
            except RecursionError:  # nested too deep to copy in Python: decoded by each hit
                return value
            entry.value, entry.mutable = value, True
            return copy
        return value  # a large dict or list: decoded afresh by each hit

    @staticmethod
    def _copy(entry: Entry, value: Any) -> Any:
        try:
            return copy_json(value)
        except RecursionError:  # the caller's own stack is deep: this copy did not fit
            return decode(entry.blob)

    @staticmethod
    def _describe_hit(span: Span, entry: Entry, level: str) -> None:
        span.set_attributes(
            {
                "cache.hit": True,
                "cache.level": level,
                "cache.item_size": len(entry.blob),
                "cache.compressed": entry.blob[1] != 0,
            }
        )
        if entry.load_ms is not None:
            span.set_attribute("cache.saved_ms", entry.load_ms)

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

    # -- loading --------------------------------------------------------------

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

    # -- warm-up --------------------------------------------------------------

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

    # -- level 2 --------------------------------------------------------------

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

    # -- state ----------------------------------------------------------------

    def gauge_readings(self) -> tuple[int, int]:
        snapshot = self._l1.snapshot()
        self._expired(snapshot.expired, span=False)
        return snapshot.entries, snapshot.bytes

    def stats(self) -> dict[str, Any]:
        """Counters since creation and level-1 contents (see the README for each field)."""
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
