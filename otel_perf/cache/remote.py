"""Level 2: one named cache's entries in Redis (redis-py asyncio), shared by every process.

Keys, all under ``{prefix}:{name}:`` (a single Redis server or primary, not Redis Cluster:
the scripts touch keys they derive):

- ``k:{key}``     the entry: metadata + encoded value, with a PX expiry of the entry's TTL;
- ``kt:{key}``    a set of the entry's tags (expires with the entry), so a re-set drops old tags;
- ``t:{tag}``     a sorted set of the tag's keys scored by expiry (ms); expired members are
                  trimmed on every write and the set expires with its longest-lived member;
- ``keys``        the same for every key of this cache, walked with ZSCAN for pattern
                  invalidation (never KEYS or SCAN over the keyspace);
- ``lock:{key}``  the short stampede lock of a loading key;
- channel ``invalidations``: what was removed or overwritten, published by the scripts, so
  other processes drop their level-1 copies (see :mod:`otel_perf.cache.coherence`).

Writes and removals are Lua scripts, so an entry and its indexes change together.
"""

from __future__ import annotations

import json
import math
import secrets
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from otel_perf.cache.config import CacheConfig, CacheValueError

META = struct.Struct(">BddH")  # version, created (unix s), load_ms (NaN: none), tags length
META_VERSION = 1
PATTERN_BATCH = 500
MAX_CONNECTIONS = 32  # per process and event loop, pub/sub included; callers queue beyond it
POOL_TIMEOUT_S = 5.0

_TRIM_AND_EXTEND = """
local function index(key, exp, now, ttl, member)
  redis.call('ZADD', key, exp, member)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# KEYS: entry, entry tags, index, tag sets...  ARGV: blob, ttl_ms, key, tag prefix,
# channel, message, tag names (in the order of KEYS[5..])
SET_SCRIPT = (
    _TRIM_AND_EXTEND
    + """
local now, ttl = now_ms(), tonumber(ARGV[2])
local exp = now + ttl
for _, tag in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  redis.call('ZREM', ARGV[4] .. tag, ARGV[3])
end
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
index(KEYS[3], exp, now, ttl, ARGV[3])
for i = 4, #KEYS do
  index(KEYS[i], exp, now, ttl, ARGV[3])
  redis.call('SADD', KEYS[2], ARGV[i + 3])
end
if #KEYS > 3 then redis.call('PEXPIRE', KEYS[2], ttl) end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
"""
)

# ARGV: entry prefix, entry-tags prefix, tag prefix, index, channel, origin, mode, items...
# mode "keys": items are keys; mode "tag": items[1] is a tag whose keys go. Publishes
# {"o": origin, "keys": removed, "tags": [tag]} unless origin is empty. Returns the removed keys.
REMOVE_SCRIPT = """
local members
local tags = {}
if ARGV[7] == 'tag' then
  members = redis.call('ZRANGE', ARGV[3] .. ARGV[8], 0, -1)
  tags = {ARGV[8]}
else
  members = {}
  for i = 8, #ARGV do members[#members + 1] = ARGV[i] end
end
local removed = {}
for _, k in ipairs(members) do
  if redis.call('DEL', ARGV[1] .. k) == 1 then removed[#removed + 1] = k end
  for _, tag in ipairs(redis.call('SMEMBERS', ARGV[2] .. k)) do
    redis.call('ZREM', ARGV[3] .. tag, k)
  end
  redis.call('DEL', ARGV[2] .. k)
  redis.call('ZREM', ARGV[4], k)
end
if ARGV[7] == 'tag' then redis.call('DEL', ARGV[3] .. ARGV[8]) end
if ARGV[6] ~= '' and (#removed > 0 or #tags > 0) then
  local message = {o = ARGV[6], keys = removed, tags = tags}
  if #removed == 0 then message.keys = nil end
  if #tags == 0 then message.tags = nil end
  redis.call('PUBLISH', ARGV[5], cjson.encode(message))
end
return removed
"""

# KEYS: entry  →  {blob, pttl_ms} or nil
GET_SCRIPT = """
local blob = redis.call('GET', KEYS[1])
if not blob then return nil end
return {blob, redis.call('PTTL', KEYS[1])}
"""

UNLOCK_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class RemoteEntry:
    """An entry read from level 2."""

    blob: bytes  # the codec blob (format tag, compression flag, payload)
    ttl_s: float  # what is left of its TTL
    created_unix: float
    load_ms: float | None
    tags: frozenset[str]


def pack(blob: bytes, created_unix: float, load_ms: float | None, tags: Iterable[str]) -> bytes:
    """Level-2 bytes: metadata, the tags as JSON, then the codec blob."""
    tag_bytes = json.dumps(sorted(tags), separators=(",", ":")).encode()
    load = math.nan if load_ms is None else load_ms
    return META.pack(META_VERSION, created_unix, load, len(tag_bytes)) + tag_bytes + blob


def unpack(data: bytes, pttl_ms: int) -> RemoteEntry:
    """The inverse of :func:`pack`.

    Raises:
        CacheValueError: the bytes were not written by :func:`pack`.
    """
    if len(data) < META.size or data[0] != META_VERSION:
        raise CacheValueError("level-2 entry has an unknown metadata layout")
    _, created, load, tags_len = META.unpack_from(data)
    start = META.size + tags_len
    tags = frozenset(json.loads(data[META.size : start]))
    return RemoteEntry(
        data[start:], max(pttl_ms, 0) / 1000, created, None if math.isnan(load) else load, tags
    )


class Remote:
    """Level 2 of the cache ``name``: entries, tag and key indexes, locks, invalidations."""

    def __init__(self, name: str, config: CacheConfig, origin: str) -> None:
        assert config.redis_url is not None  # the caller builds a Remote only with a URL
        self.name = name
        self.origin = origin
        pool = aioredis.BlockingConnectionPool.from_url(
            config.redis_url, max_connections=MAX_CONNECTIONS, timeout=POOL_TIMEOUT_S
        )
        self.client: aioredis.Redis = aioredis.Redis.from_pool(pool)
        base = f"{config.redis_prefix}:{name}:"
        self.entry_prefix = base + "k:"
        self.entry_tags_prefix = base + "kt:"
        self.tag_prefix = base + "t:"
        self.index = base + "keys"
        self.lock_prefix = base + "lock:"
        self.channel = base + "invalidations"
        self._set = self.client.register_script(SET_SCRIPT)
        self._remove = self.client.register_script(REMOVE_SCRIPT)
        self._get = self.client.register_script(GET_SCRIPT)
        self._unlock = self.client.register_script(UNLOCK_SCRIPT)

    async def get(self, key: str) -> RemoteEntry | None:
        found = await self._get(keys=[self.entry_prefix + key])
        if found is None:
            return None
        data, pttl = found
        return unpack(bytes(data), int(pttl))

    async def set(
        self, key: str, blob: bytes, ttl_s: float, tags: frozenset[str], load_ms: float | None
    ) -> None:
        ordered = sorted(tags)
        keys = [self.entry_prefix + key, self.entry_tags_prefix + key, self.index]
        keys += [self.tag_prefix + tag for tag in ordered]
        message = json.dumps({"o": self.origin, "keys": [key]})
        args: list[Any] = [
            pack(blob, time.time(), load_ms, ordered),
            max(1, round(ttl_s * 1000)),
            key,
            self.tag_prefix,
            self.channel,
            message,
            *ordered,
        ]
        await self._set(keys=keys, args=args)

    async def delete(self, keys: Iterable[str], publish: bool = True) -> list[str]:
        """Remove ``keys`` and their index entries; returns those that existed."""
        return await self._run_remove("keys", list(keys), publish)

    async def invalidate_tag(self, tag: str) -> list[str]:
        """Remove every entry carrying ``tag``; returns their keys."""
        return await self._run_remove("tag", [tag], True)

    async def invalidate_pattern(self, pattern: str, matches: Any) -> list[str]:
        """Remove every key of this cache for which ``matches(key)`` holds (walked with ZSCAN)."""
        removed: list[str] = []
        batch: list[str] = []
        async for member, _ in self.client.zscan_iter(self.index, count=PATTERN_BATCH):
            key = member.decode() if isinstance(member, bytes) else str(member)
            if matches(key):
                batch.append(key)
            if len(batch) >= PATTERN_BATCH:
                removed += await self.delete(batch, publish=False)
                batch = []
        if batch:
            removed += await self.delete(batch, publish=False)
        await self.publish({"patterns": [pattern]})
        return removed

    async def publish(self, message: dict[str, Any]) -> None:
        await self.client.publish(self.channel, json.dumps({"o": self.origin, **message}))

    async def try_lock(self, key: str, ttl_s: float) -> str | None:
        """A token when this process now holds ``key``'s load lock, None when another does."""
        token = secrets.token_hex(8)
        ok = await self.client.set(
            self.lock_prefix + key, token, nx=True, px=max(1, round(ttl_s * 1000))
        )
        return token if ok else None

    async def is_locked(self, key: str) -> bool:
        return bool(await self.client.exists(self.lock_prefix + key))

    async def unlock(self, key: str, token: str) -> None:
        await self._unlock(keys=[self.lock_prefix + key], args=[token])

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _run_remove(self, mode: str, items: list[str], publish: bool) -> list[str]:
        if not items:
            return []
        args = [self.entry_prefix, self.entry_tags_prefix, self.tag_prefix, self.index]
        args += [self.channel, self.origin if publish else "", mode, *items]
        removed = await self._remove(args=args)
        return [k.decode() if isinstance(k, bytes) else str(k) for k in removed]
