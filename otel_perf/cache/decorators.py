"""``@cached`` for functions and ``cached_query`` for database calls (with smart TTL)."""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar, cast

from otel_perf.cache._sync import run_sync
from otel_perf.cache.config import CacheValueError
from otel_perf.cache.registry import get_cache
from otel_perf.fingerprint import fingerprint, fingerprint_id

F = TypeVar("F", bound=Callable[..., Any])


def cached(
    cache: str = "default",
    *,
    ttl: float | None = None,
    tags: Iterable[str] = (),
    key: Callable[..., str] | None = None,
) -> Callable[[F], F]:
    """Cache a function's results in the named cache (sync and ``async def`` functions).

    The key is ``key(*args, **kwargs)`` when given, else ``module.qualname:<hash>`` of the
    arguments as JSON (pass ``key`` for arguments that are not JSON-serialisable, such as
    ``self``). Concurrent calls with the same key run the function once. A synchronous
    function's cache work runs on a background event loop, so it can be called anywhere.
    """
    frozen_tags = tuple(tags)

    def decorate(fn: F) -> F:
        make_key = key or _default_key(fn)
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def call_async(*args: Any, **kwargs: Any) -> Any:
                target = get_cache(cache)
                return await target.get_or_load(
                    make_key(*args, **kwargs),
                    lambda: fn(*args, **kwargs),
                    ttl=ttl,
                    tags=frozen_tags,
                )

            return cast(F, call_async)

        @functools.wraps(fn)
        def call_sync(*args: Any, **kwargs: Any) -> Any:
            target = get_cache(cache)
            load = target.get_or_load(
                make_key(*args, **kwargs), lambda: fn(*args, **kwargs), ttl=ttl, tags=frozen_tags
            )
            return run_sync(load)

        return cast(F, call_sync)

    return decorate


def _default_key(fn: Callable[..., Any]) -> Callable[..., str]:
    name = f"{fn.__module__}.{fn.__qualname__}"

    def make(*args: Any, **kwargs: Any) -> str:
        return f"{name}:{_digest(name, [list(args), kwargs])}"

    return make


async def cached_query(
    sql: str,
    params: Sequence[Any] | Mapping[str, Any] = (),
    run: Callable[[str, Any], Any] | None = None,
    *,
    cache: str = "db",
    tags: Iterable[str] = (),
    ttl: float | None = None,
) -> Any:
    """``run(sql, params)`` through the cache ``cache``, keyed by the query's fingerprint and
    its parameters.

    With ``ttl=None`` the TTL is smart: half the median interval between changes of this
    query's result, within ``smart_ttl_bounds`` (``default_ttl`` until two changes were
    seen); ``stats()["smart_ttl"][fingerprint]`` explains the last choice.

    Raises:
        CacheValueError: no ``run``, an empty statement, parameters that are not
            JSON-serialisable, or a result that cannot be cached.
    """
    if run is None or not callable(run):
        raise CacheValueError("cached_query: run must be a callable taking (sql, params)")
    if not isinstance(sql, str) or not sql.strip():
        raise CacheValueError(f"cached_query: sql must be a non-empty statement, got {sql!r}")
    query = fingerprint(sql)
    key = f"query:{fingerprint_id(query)}:{_digest('params of ' + query, params)}"
    target = get_cache(cache)

    def ttl_for(result: Any) -> float:
        return target.smart_ttl.observe(query, key, _result_hash(result))

    return await target.load_through(
        key, lambda: run(sql, params), ttl=ttl, tags=tags, ttl_for=None if ttl else ttl_for
    )


def _digest(what: str, value: Any) -> str:
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise CacheValueError(
            f"cannot make a cache key for {what}: arguments must be JSON-serialisable ({exc});"
            " pass key=... to build the key yourself"
        ) from exc
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _result_hash(result: Any) -> str:
    if isinstance(result, bytes):
        return hashlib.blake2b(result, digest_size=16).hexdigest()
    text = json.dumps(result, sort_keys=True, default=repr)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
