"""What a cache hit hands back and records: the value decoded (and kept for later hits, or
copied so a caller cannot change a cached dict or list) and the span attributes."""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import Span

from otel_perf.cache.codec import PLAIN, copy_json, decode
from otel_perf.cache.local import IMMUTABLE, Entry


def first_value(entry: Entry) -> Any:
    """Decode ``entry``, keeping the result for later hits: as it is when immutable, to copy
    when a dict or list (then only if stored uncompressed, which bounds what is kept)."""
    value = decode(entry.blob)
    if type(value) in IMMUTABLE:
        entry.value = value
    elif entry.blob[1] == PLAIN:
        try:
            copy = copy_json(value)
        except RecursionError:  # nested too deep to copy in Python: decoded by each hit
            return value
        entry.value, entry.mutable = value, True
        return copy
    return value  # a large dict or list: decoded afresh by each hit


def copy_value(entry: Entry, value: Any) -> Any:
    try:
        return copy_json(value)
    except RecursionError:  # the caller's own stack is deep: this copy did not fit
        return decode(entry.blob)


def describe_hit(span: Span, entry: Entry, level: str) -> None:
    span.set_attributes(
        {
            "cache.hit": True,
            "cache.level": level,
            "cache.item_size": len(entry.blob),
            "cache.compressed": entry.blob[1] != 0,
        }
    )
    if entry.load_ms is not None:
        span.set_attribute("cache.saved_ms", entry.load_ms)
