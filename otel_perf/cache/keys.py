"""Checks on the keys and tags callers pass to a :class:`~otel_perf.cache.Cache`, and the
``MISSING`` sentinel a lookup returns when neither level has the key."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from otel_perf.cache.config import CacheValueError

MISSING: Any = object()
NO_TAGS: frozenset[str] = frozenset()
MAX_KEY_CHARS = 4096
MAX_TAGS = 64


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
