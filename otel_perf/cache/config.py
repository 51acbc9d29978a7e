"""A named cache's settings and the errors the cache raises."""

from __future__ import annotations

import importlib.util
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MiB = 1024 * 1024


class CacheError(Exception):
    """Something the cache could not do (a level-2 failure, a misconfiguration)."""


class CacheValueError(CacheError, ValueError):
    """A key or value the cache refuses; the message names the key and what was wrong."""


def zstd_available() -> bool:
    """Whether the optional ``zstandard`` package can be imported."""
    return importlib.util.find_spec("zstandard") is not None


class CacheConfig(BaseModel):
    """One named cache: level 1 in-process (LRU + TTL), level 2 in Redis when ``redis_url`` is set.

    Attributes:
        default_ttl: seconds an entry lives when ``set`` is given no ``ttl``.
        max_size: level-1 entries; past it the least recently used entry is evicted.
        compress_threshold: serialised values longer than this many bytes are compressed.
        compression: ``zlib`` or ``zstd`` (the latter needs the ``zstandard`` package).
        max_value_bytes: serialised values longer than this are refused (CacheValueError).
        redis_url: ``redis://host:port/db`` of the shared level 2; None keeps the cache local.
        redis_prefix: prefix of every Redis key and channel this cache uses.
        smart_ttl_bounds: (lowest, highest) TTL in seconds that ``cached_query`` derives.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    default_ttl: float = Field(300.0, gt=0)
    max_size: int = Field(1000, gt=0)
    compress_threshold: int = Field(1024, ge=0)
    compression: Literal["zlib", "zstd"] = "zlib"
    max_value_bytes: int = Field(16 * MiB, gt=0)
    redis_url: str | None = None
    redis_prefix: str = Field("otel-perf:cache", min_length=1)
    smart_ttl_bounds: tuple[float, float] = (5.0, 3600.0)

    @model_validator(mode="after")
    def _check(self) -> CacheConfig:
        low, high = self.smart_ttl_bounds
        if not 0 < low <= high:
            raise ValueError(f"smart_ttl_bounds: need 0 < lowest <= highest, got ({low}, {high})")
        if self.compression == "zstd" and not zstd_available():
            raise ValueError(
                "compression: 'zstd' needs the zstandard package (pip install zstandard);"
                " use 'zlib' or install it"
            )
        if self.redis_url is not None and importlib.util.find_spec("redis") is None:
            raise ValueError(
                "redis_url: level 2 needs the redis package (pip install 'otel-perf[asgi]')"
            )
        if self.redis_url is not None and not self.redis_url.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ValueError(
                f"redis_url: expected redis://, rediss:// or unix://, got {self.redis_url!r}"
            )
        return self
