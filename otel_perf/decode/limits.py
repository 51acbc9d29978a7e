"""Per-item limits applied while decoding, and the span attributes kept by default."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

# Span attributes kept on records: old and stable semantic-convention names,
# since Python instrumentations still emit the old ones by default.
SPAN_ATTRIBUTE_KEYS: frozenset[str] = frozenset(
    {
        "http.route",
        "http.request.method",
        "http.method",
        "http.response.status_code",
        "http.status_code",
        "http.target",
        "url.path",
        "url.template",
        "rpc.system",
        "rpc.service",
        "rpc.method",
        "rpc.grpc.status_code",
        "db.system",
        "db.system.name",
        "db.statement",
        "db.query.text",
        "db.query.summary",
        "db.operation",
        "db.operation.name",
        "db.name",
        "db.namespace",
        "db.collection.name",
        "db.sql.table",
        "server.address",
        "server.port",
        "peer.service",
        "net.peer.name",
        "messaging.system",
        "messaging.operation",
        "messaging.destination.name",
        "error.type",
        "exception.type",
        "cache.hit",
        "cache.key",
        "cache.item_size",
        "cache.ttl",
    }
)

TRACE_ID_BYTES = 16
SPAN_ID_BYTES = 8


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-item limits applied while decoding."""

    max_attribute_value_bytes: int = 65536
    span_attribute_keys: frozenset[str] = SPAN_ATTRIBUTE_KEYS
    #: items timed further ahead of ``clock`` are rejected: windows keyed by event time
    #: (span metrics, SLO minutes) would otherwise open state for any future instant
    max_future_s: float = 3600.0
    clock: Callable[[], int] = time.time_ns

    def latest_ns(self) -> int:
        return self.clock() + int(self.max_future_s * 1e9)
