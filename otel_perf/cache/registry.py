"""The process's named caches: ``configure_cache``, ``get_cache``, ``caches``."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider
from pydantic import ValidationError

from otel_perf.cache.cache import Cache
from otel_perf.cache.config import CacheConfig, CacheError, CacheValueError
from otel_perf.cache.telemetry import telemetry_for

MAX_CACHES = 256
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_caches: dict[str, Cache] = {}
_lock = threading.RLock()
_closing: set[asyncio.Task[None]] = set()


def configure_cache(
    name: str,
    config: CacheConfig | None = None,
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    clock: Callable[[], float] | None = None,
    **settings: Any,
) -> Cache:
    """(Re)define the cache ``name`` from ``config`` and/or ``CacheConfig`` fields as keywords.

    ``tracer_provider`` / ``meter_provider`` default to those of
    :func:`otel_perf.cache.set_providers`, else the global ones; ``clock`` (monotonic seconds)
    is for tests. A cache already under ``name`` is replaced (and closed when a loop runs).

    Raises:
        CacheValueError: a bad name or setting; the message names every bad field.
        CacheError: more than ``MAX_CACHES`` names.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise CacheValueError(f"cache name must match {_NAME.pattern}, got {name!r}")
    if config is None:
        merged = _validate(name, settings)
    elif not isinstance(config, CacheConfig):
        raise CacheValueError(f"cache {name!r}: config must be a CacheConfig, got {config!r}")
    else:
        merged = _validate(name, {**config.model_dump(), **settings}) if settings else config
    telemetry = telemetry_for(tracer_provider, meter_provider)
    cache = Cache(name, merged, clock=clock or time.monotonic, telemetry=telemetry)
    with _lock:
        if name not in _caches and len(_caches) >= MAX_CACHES:
            cache.detach()
            raise CacheError(f"cache {name!r}: already {MAX_CACHES} named caches")
        old = _caches.get(name)
        _caches[name] = cache
    if old is not None:
        _retire(old)
    return cache


def get_cache(name: str = "default") -> Cache:
    """The cache ``name``, created with the default settings when it was never configured."""
    found = _caches.get(name)
    if found is not None:
        return found
    with _lock:  # two threads asking at once get the same cache
        found = _caches.get(name)
        return found if found is not None else configure_cache(name)


def caches() -> dict[str, Cache]:
    """Every configured cache by name (a copy)."""
    with _lock:
        return dict(_caches)


def _validate(name: str, settings: dict[str, Any]) -> CacheConfig:
    try:
        return CacheConfig.model_validate(settings)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(config)'}: {error['msg']}"
            for error in exc.errors()
        )
        raise CacheValueError(f"cache {name!r} config: {problems}") from None


def _retire(old: Cache) -> None:
    old.detach()
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return  # level-2 connections close with the loop that opened them
    task = loop.create_task(old.close())
    _closing.add(task)
    task.add_done_callback(_closing.discard)
