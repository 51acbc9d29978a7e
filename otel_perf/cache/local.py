"""Level 1: an in-process LRU of encoded entries with per-entry TTL and tags.

Bounded twice: at most ``max_size`` entries (the least recently used goes first) and a
memory of at most ``memory_size`` recently removed keys with why and when they went, so a
later miss can say "expired 3 s ago" rather than just "absent". All methods take the lock:
the metrics reader calls :meth:`LocalStore.snapshot` from its own thread.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

UNSET: Any = object()
IMMUTABLE = (str, int, float, bool, type(None), bytes)
RECENT_WINDOW_S = 60.0


@dataclass(slots=True)
class Entry:
    """One level-1 entry; ``value`` holds the decoded value once known (UNSET before): an
    immutable one is returned as it is, a ``mutable`` one (a JSON dict or list) is copied
    for each reader so no caller can change what the cache holds."""

    blob: bytes
    expires_at: float
    created_at: float
    tags: frozenset[str] = frozenset()
    load_ms: float | None = None
    value: Any = UNSET
    hits: int = 0
    mutable: bool = False


@dataclass(slots=True)
class Lookup:
    """A get's outcome: the entry on a hit, else why it missed (and the expired entry, if any)."""

    entry: Entry | None
    miss_reason: str = "absent"
    expired_ago_s: float | None = None
    expired: Entry | None = None


@dataclass(slots=True)
class Removal:
    """An entry that left level 1 and why: size | ttl | delete | tag | pattern | remote."""

    key: str
    entry: Entry
    reason: str


@dataclass
class Snapshot:
    entries: int
    bytes: int
    compressed: int
    expired: list[Removal] = field(default_factory=list)


_REMEMBERED = {"size": "evicted", "ttl": "expired"}


class LocalStore:
    """LRU + TTL map of key → :class:`Entry`, with a tag index and a recent-removal memory."""

    def __init__(
        self,
        max_size: int,
        clock: Callable[[], float] = time.monotonic,
        memory_size: int | None = None,
    ) -> None:
        self.max_size = max_size
        self.clock = clock
        self.memory_size = max_size if memory_size is None else memory_size
        self.forgotten = 0  # removals dropped from the memory when it was full
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._tags: dict[str, set[str]] = {}
        self._recent: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Lookup:
        """The live entry for ``key`` (now most recently used), or why there is none."""
        with self._lock:
            now = self.clock()
            entry = self._entries.get(key)
            if entry is None:
                return self._why_absent(key, now)
            if now >= entry.expires_at:
                self._drop(key, entry, "ttl", entry.expires_at)
                return Lookup(None, "expired", now - entry.expires_at, expired=entry)
            self._entries.move_to_end(key)
            entry.hits += 1
            return Lookup(entry)

    def hit(self, key: str) -> Entry | None:
        """The live entry for ``key`` (now most recently used), else None — the fast path of
        :meth:`get`, which then says why there is none (and drops an expired entry)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or self.clock() >= entry.expires_at:
                return None
            self._entries.move_to_end(key)
            entry.hits += 1
            return entry

    def put(self, key: str, entry: Entry) -> list[Removal]:
        """Store ``entry`` under ``key``; returns the entries evicted to make room."""
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._unindex(key, old)
            self._recent.pop(key, None)
            self._entries[key] = entry
            self._bytes += len(entry.blob)
            for tag in entry.tags:
                self._tags.setdefault(tag, set()).add(key)
            evicted: list[Removal] = []
            if len(self._entries) <= self.max_size:
                return evicted
            now = self.clock()
            while len(self._entries) > self.max_size:
                lru_key, lru = next(iter(self._entries.items()))
                expired = now >= lru.expires_at
                reason = "ttl" if expired else "size"
                self._drop(lru_key, lru, reason, lru.expires_at if expired else now)
                evicted.append(Removal(lru_key, lru, reason))
            return evicted

    def remove(self, keys: Iterable[str], reason: str = "delete") -> list[Removal]:
        """Remove ``keys`` (those present); remembered as invalidated."""
        with self._lock:
            return self._remove_many([k for k in keys if k in self._entries], reason)

    def remove_tag(self, tag: str) -> list[Removal]:
        with self._lock:
            return self._remove_many(list(self._tags.get(tag, ())), "tag")

    def remove_pattern(self, pattern: str) -> list[Removal]:
        """Remove every key matching the fnmatch-style ``pattern`` (case-sensitive)."""
        with self._lock:
            return self._remove_many(
                [k for k in self._entries if fnmatchcase(k, pattern)], "pattern"
            )

    def clear(self, reason: str = "remote") -> int:
        with self._lock:
            return len(self._remove_many(list(self._entries), reason))

    def snapshot(self) -> Snapshot:
        """Counts after dropping expired entries (returned in ``expired``)."""
        with self._lock:
            now = self.clock()
            stale = [(k, e) for k, e in self._entries.items() if now >= e.expires_at]
            expired = []
            for key, entry in stale:
                self._drop(key, entry, "ttl", entry.expires_at)
                expired.append(Removal(key, entry, "ttl"))
            compressed = sum(1 for e in self._entries.values() if e.blob[1] != 0)
            return Snapshot(len(self._entries), self._bytes, compressed, expired)

    def _remove_many(self, keys: list[str], reason: str) -> list[Removal]:
        now = self.clock()
        removed = []
        for key in keys:
            entry = self._entries[key]
            self._drop(key, entry, reason, now)
            removed.append(Removal(key, entry, reason))
        return removed

    def _why_absent(self, key: str, now: float) -> Lookup:
        recent = self._recent.get(key)
        if recent is None:
            return Lookup(None)
        reason, at = recent
        ago = now - at
        if reason == "expired" and ago < RECENT_WINDOW_S:
            return Lookup(None, reason, ago)
        return Lookup(None, reason)

    def _drop(self, key: str, entry: Entry, reason: str, at: float) -> None:
        del self._entries[key]
        self._unindex(key, entry)
        self._remember(key, _REMEMBERED.get(reason, "invalidated"), at)

    def _unindex(self, key: str, entry: Entry) -> None:
        self._bytes -= len(entry.blob)
        for tag in entry.tags:
            keys = self._tags.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._tags[tag]

    def _remember(self, key: str, reason: str, at: float) -> None:
        if self.memory_size <= 0:
            return
        self._recent.pop(key, None)
        self._recent[key] = (reason, at)
        if len(self._recent) > self.memory_size:
            self._recent.popitem(last=False)
            self.forgotten += 1
