"""Memory attributes that otel_perf.asgi (or any app) puts on server spans."""

from __future__ import annotations

from collections.abc import Mapping

from otel_perf.model import AttrValue

RSS_START = "otel_perf.memory.rss_start_bytes"
RSS_END = "otel_perf.memory.rss_end_bytes"
DELTA = "otel_perf.memory.delta_bytes"
KEYS = frozenset({RSS_START, RSS_END, DELTA})


def memory_delta(attrs: Mapping[str, AttrValue]) -> int | None:
    """Bytes the process grew during the request: the delta, else end minus start."""
    delta = attrs.get(DELTA)
    if isinstance(delta, int | float):
        return int(delta)
    start, end = attrs.get(RSS_START), attrs.get(RSS_END)
    if isinstance(start, int | float) and isinstance(end, int | float):
        return int(end - start)
    return None
