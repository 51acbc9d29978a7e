"""Type stub of the native decoder built from ``_columnar.c``."""

from typing import Any

from otel_perf.model import Resource, SpanRecord

def decode_traces(
    body: bytes,
    key_index: dict[str, int],
    facts: tuple[tuple[int, ...], ...],
    limit: int,
    latest_ns: int,
    resource_type: type[Resource],
    record_type: type[SpanRecord],
) -> tuple[list[SpanRecord], list[tuple[Any, ...]], dict[str, bytes], list[str]] | None: ...
