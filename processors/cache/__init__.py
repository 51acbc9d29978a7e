"""The ``cache`` processor: cache effectiveness, TTL advice, cacheable candidates."""
