"""Settings of the ``cache`` processor: bounds, the rules of TTL advice and cacheable
candidates, and the apps whose cache control endpoints the sidecar may call."""

from __future__ import annotations

import urllib.parse

from pydantic import Field, SecretStr, field_validator, model_validator

from otel_perf.component import ComponentConfig
from otel_perf.config.types import Duration, Secret


class AppTarget(ComponentConfig):
    """One app's cache control endpoint (``otel_perf.cache.control``).

    Attributes:
        name: how requests and responses name this app.
        endpoint: ``http(s)://host:port/path`` where the app mounted ``cache_control_app``;
            ``/invalidate`` and ``/warmup`` are appended. Configured endpoints are the only
            places the sidecar forwards to, so a non-loopback host is allowed here.
        token: the app's control token (``${env:APP_CACHE_TOKEN}``), sent as a bearer token.
        timeout: per forwarded request.
    """

    name: str = Field(min_length=1, max_length=128)
    endpoint: str
    token: Secret
    timeout: Duration = 5.0

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parsed = urllib.parse.urlsplit(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(
                f'expected an http(s) URL like "http://127.0.0.1:8000/_otel_perf/cache", '
                f'got "{value}"'
            )
        if parsed.query or parsed.fragment:
            raise ValueError(f'expected a URL without query or fragment, got "{value}"')
        return value.rstrip("/")

    @field_validator("token")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("token is empty; the app's control endpoint refuses an empty token")
        return value

    @field_validator("timeout")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError(f"expected a positive duration, got {value}")
        return value


class CacheProcessorConfig(ComponentConfig):
    """``processors.cache``.

    Attributes:
        max_caches: (service, cache name) pairs tracked; spans and points of others are counted.
        max_prefixes: key prefixes per cache; the rest go to the ``(other)`` prefix, counted.
        max_fingerprints: (service, query fingerprint) pairs watched for cacheable candidates.
        max_samples: recent events kept per prefix (misses, removals, TTLs) and recent calls
            per fingerprint; the oldest go first.
        window: how far back (event time) TTL advice looks.
        min_events: events a piece of TTL advice needs within ``window``.
        ttl_short_share: TTL too short when at least this share of a prefix's misses are
            re-fetches right after expiry.
        refetch_after_expiry: a miss on an entry expired at most this long ago, or at most
            ``refetch_ttl_fraction`` of the TTL ago (the larger), is a re-fetch after expiry.
        refetch_ttl_fraction: see ``refetch_after_expiry``.
        ttl_margin: suggested longer TTL = margin × p90 of (TTL + time since expiry) of those
            re-fetches, i.e. of the interval between a put and its key's next read.
        ttl_long_share: TTL too long when at least this share of the entries removed by an
            invalidation (delete, tag, pattern) had never been read.
        min_ttl / max_ttl: bounds of every suggested TTL.
        candidate_horizon: repeats of one query are looked for within this horizon.
        candidate_min_repeats: the same statement text at least this many times in the horizon.
        candidate_min_ms_per_min: and the fingerprint's DB time at least this many ms per minute.
        candidate_operations: DB operations considered (statement's first keyword or
            ``db.operation.name``); writes are never cacheable.
        evaluation_interval: how often (event time) advice and candidates are evaluated.
        quiet_period: an unchanged recommendation is announced again after this long.
        save_interval: how often (event time) the counters, TTL evidence and watched calls
            are written to the store (the calls can be megabytes: once a minute by default).
        apps: the apps whose cache control endpoints the API may forward to.
    """

    max_caches: int = Field(default=200, gt=0)
    max_prefixes: int = Field(default=100, gt=0)
    max_fingerprints: int = Field(default=1000, gt=0)
    max_samples: int = Field(default=1000, ge=10)
    window: Duration = 900.0
    min_events: int = Field(default=20, ge=1)
    ttl_short_share: float = Field(default=0.3, gt=0, le=1)
    refetch_after_expiry: Duration = 5.0
    refetch_ttl_fraction: float = Field(default=0.1, ge=0, le=1)
    ttl_margin: float = Field(default=2.0, ge=1)
    ttl_long_share: float = Field(default=0.5, gt=0, le=1)
    min_ttl: Duration = 5.0
    max_ttl: Duration = 3600.0
    candidate_horizon: Duration = 60.0
    candidate_min_repeats: int = Field(default=5, ge=2)
    candidate_min_ms_per_min: float = Field(default=1000.0, ge=0)
    candidate_operations: list[str] = Field(default_factory=lambda: ["SELECT", "FIND", "AGGREGATE"])
    evaluation_interval: Duration = 10.0
    quiet_period: Duration = 3600.0
    save_interval: Duration = 60.0
    apps: list[AppTarget] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> CacheProcessorConfig:
        if not 0 < self.min_ttl <= self.max_ttl:
            raise ValueError(
                f"need 0 < min_ttl <= max_ttl, got min_ttl {self.min_ttl} s, "
                f"max_ttl {self.max_ttl} s"
            )
        if self.window <= 0 or self.candidate_horizon <= 0:
            raise ValueError("window and candidate_horizon must be positive durations")
        names = [app.name for app in self.apps]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"apps: names must be unique, repeated: {', '.join(duplicates)}")
        return self

    @property
    def ttl_bounds(self) -> tuple[float, float]:
        return self.min_ttl, self.max_ttl

    def app(self, name: str) -> AppTarget | None:
        return next((a for a in self.apps if a.name == name), None)
