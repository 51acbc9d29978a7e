"""The public names of otel_perf.cache are a contract shared with the middleware and the
collector-side analysis: adding one is a decision."""

import inspect

import otel_perf.cache

PUBLIC = {
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
}


def test_public_names_are_pinned() -> None:
    assert set(otel_perf.cache.__all__) == PUBLIC
    for name in PUBLIC:
        assert hasattr(otel_perf.cache, name)


def test_cache_methods_match_the_contract() -> None:
    cache = otel_perf.cache.Cache
    for method in ("get", "set", "delete", "invalidate_tags", "invalidate_pattern"):
        assert inspect.iscoroutinefunction(getattr(cache, method)), method
    for method in ("get_or_load", "warm_up", "close"):
        assert inspect.iscoroutinefunction(getattr(cache, method)), method
    assert not inspect.iscoroutinefunction(cache.stats)
    assert not inspect.iscoroutinefunction(cache.register_warmup)
    set_params = inspect.signature(cache.set).parameters
    assert [p for p in set_params if set_params[p].kind is inspect.Parameter.KEYWORD_ONLY] == [
        "ttl",
        "tags",
        "load_ms",
    ]
    assert issubclass(otel_perf.cache.CacheValueError, otel_perf.cache.CacheError)
    assert issubclass(otel_perf.cache.CacheValueError, ValueError)
    assert list(otel_perf.cache.CacheConfig.model_fields) == [
        "default_ttl",
        "max_size",
        "compress_threshold",
        "compression",
        "max_value_bytes",
        "redis_url",
        "redis_prefix",
        "smart_ttl_bounds",
    ]
