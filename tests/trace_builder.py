"""Build SpanRecords concisely for tests: times in ms, ids as short names.

    span("root", None, 0, 100, name="GET /orders", kind=SpanKind.SERVER)
    db("q1", "root", 10, 20, "SELECT * FROM orders WHERE id = 1")

Ids given as str are encoded as they are (readable in failures); ints become
8 big-endian bytes.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from otel_perf.model import AttrValue, Resource, SpanKind, SpanRecord, StatusCode

TRACE_ID = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
NS_PER_MS = 1_000_000

SpanId = str | int | bytes


def sid(value: SpanId) -> bytes:
    """The span id bytes for a test id."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, int):
        return value.to_bytes(8, "big")
    return value.encode()


def ms(value: float) -> int:
    """Milliseconds as integer nanoseconds."""
    return round(value * NS_PER_MS)


def resource(service: str, **attrs: AttrValue) -> Resource:
    return Resource({"service.name": service, **attrs})


def span(
    span_id: SpanId,
    parent: SpanId | None,
    start_ms: float,
    end_ms: float,
    *,
    name: str = "op",
    service: str = "app",
    kind: int = SpanKind.INTERNAL,
    attrs: Mapping[str, AttrValue] | None = None,
    status: int = StatusCode.UNSET,
    trace_id: bytes = TRACE_ID,
    resource_attrs: Mapping[str, AttrValue] | None = None,
) -> SpanRecord:
    """A span; ``parent=None`` makes a root."""
    return SpanRecord(
        trace_id=trace_id,
        span_id=sid(span_id),
        parent_span_id=b"" if parent is None else sid(parent),
        resource=resource(service, **(resource_attrs or {})),
        scope_name="tests",
        name=name,
        kind=kind,
        start_ns=ms(start_ms),
        end_ns=ms(end_ms),
        status_code=status,
        status_message="",
        attributes=dict(attrs or {}),
    )


def db(
    span_id: SpanId,
    parent: SpanId | None,
    start_ms: float,
    end_ms: float,
    sql: str,
    *,
    system: str = "postgresql",
    service: str = "app",
    old_semconv: bool = False,
) -> SpanRecord:
    """A DB CLIENT span named like semconv's ``{operation}`` (the first word)."""
    keys = ("db.system", "db.statement") if old_semconv else ("db.system.name", "db.query.text")
    return span(
        span_id,
        parent,
        start_ms,
        end_ms,
        name=sql.split(maxsplit=1)[0].upper() if sql.strip() else "db",
        service=service,
        kind=SpanKind.CLIENT,
        attrs={keys[0]: system, keys[1]: sql},
    )


def http_client(
    span_id: SpanId,
    parent: SpanId | None,
    start_ms: float,
    end_ms: float,
    method: str,
    path: str,
    *,
    host: str = "api.internal",
    service: str = "app",
) -> SpanRecord:
    """An HTTP CLIENT span (new semconv: method, server.address, url.path)."""
    return span(
        span_id,
        parent,
        start_ms,
        end_ms,
        name=method,
        service=service,
        kind=SpanKind.CLIENT,
        attrs={"http.request.method": method, "server.address": host, "url.path": path},
    )


def snapshot(spans: list[SpanRecord]) -> list[tuple[object, ...]]:
    """A deep copy of every field of every span, to check a function left its input alone."""
    return [tuple(copy.deepcopy(getattr(s, slot)) for slot in SpanRecord.__slots__) for s in spans]
