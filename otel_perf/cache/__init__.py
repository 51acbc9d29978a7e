"""``otel_perf.cache``: named two-level caches for apps, with OpenTelemetry spans and metrics.

Level 1 is in-process (LRU + TTL); level 2, when ``redis_url`` is set, is Redis, shared by
every process of the app. Entries carry tags; invalidation by key, tag or glob pattern
reaches both levels and (over Redis pub/sub) other processes' level 1. ``get_or_load``
runs one loader per key at a time; ``@cached`` and ``cached_query`` build on it. docs/app-side.md
("otel_perf.cache") documents the settings, spans and metrics.
"""

from otel_perf.cache.cache import Cache
from otel_perf.cache.config import CacheConfig, CacheError, CacheValueError
from otel_perf.cache.decorators import cached, cached_query
from otel_perf.cache.registry import caches, configure_cache, get_cache
from otel_perf.cache.telemetry import set_providers

__all__ = [
    "Cache",
    "CacheConfig",
    "CacheError",
    "CacheValueError",
    "cached",
    "cached_query",
    "caches",
    "configure_cache",
    "get_cache",
    "set_providers",
]
