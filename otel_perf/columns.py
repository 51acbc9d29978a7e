"""A span batch as columns: numpy arrays with one row per span and one string table.

Strings (service, scope, span name, the kept string-valued attributes) are ids into
``strings``, the batch's table of distinct values, each decoded to ``str`` once. The
native decoder (:mod:`otel_perf.decode.columnar`) fills the columns straight from the
request bytes; :func:`from_records` builds the same columns from records, for batches
decoded by the protobuf library (OTLP/JSON, replay, or when the extension is missing).

Per-span facts processors would otherwise derive span by span are columns here:
``duration_ns``, ``parent`` (the parent's row in this batch, -1 when it is not in it),
``route``, ``peer`` and ``db_statement``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from otel_perf.model import SpanRecord

if TYPE_CHECKING:
    from otel_perf.operation_column import Operations

I32 = NDArray[np.int32]
NONE = -1  # the id of a string that is absent
OTHER = -2  # in an attribute column: the span holds a value that is not a string (or None)
KIND_SERVER = 2  # OTLP span kind SERVER
STATUS_ERROR = 2  # OTLP status code ERROR
ROUTE_KEYS = ("http.route", "url.template")
PEER_KEYS = ("server.address", "net.peer.name", "peer.service")
DB_STATEMENT_KEYS = ("db.query.text", "db.statement")


@dataclass(frozen=True, slots=True, eq=False)
class SpanColumns:
    """One row per span of a :class:`~otel_perf.model.SpanBatch`, in the same order.

    Attributes:
        strings: the batch's string table; every ``int32`` id column indexes it.
        trace_id: ``(n, 16)`` uint8. span_id, parent_span_id: ``(n, 8)`` uint8 (zeros
            when there is no parent).
        start_ns, end_ns, duration_ns: int64 nanoseconds.
        kind, status: int8 OTLP span kind and status code.
        parent: int32 row of the parent span in this batch, -1 when not in it.
        service, scope, name: int32 string ids.
        route: ``http.route``, else ``url.template`` (-1 when neither is a non-empty string).
        peer: ``server.address``, else ``net.peer.name``, else ``peer.service``.
        db_statement: ``db.query.text``, else ``db.statement``.
        attributes: kept attribute key -> int32 string ids: -1 where the span does not
            carry the key, -2 (``OTHER``) where its value is not a string (None included;
            the value is on the record); keys that no span of the batch carries are absent.
    """

    strings: Sequence[str]
    trace_id: NDArray[np.uint8]
    span_id: NDArray[np.uint8]
    parent_span_id: NDArray[np.uint8]
    start_ns: NDArray[np.int64]
    end_ns: NDArray[np.int64]
    duration_ns: NDArray[np.int64]
    kind: NDArray[np.int8]
    status: NDArray[np.int8]
    parent: I32
    service: I32
    scope: I32
    name: I32
    route: I32
    peer: I32
    db_statement: I32
    attributes: Mapping[str, I32]
    #: facts derived once per batch on first use (see :meth:`errors`)
    derived: dict[str, Any] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.start_ns)

    def errors(self, spans: Sequence[SpanRecord]) -> NDArray[np.bool_]:
        """Per row: is the span an error (:func:`otel_perf.semconv.is_error`)?

        Status ERROR from the column; a 5xx answer read from the records of the SERVER
        spans only. ``spans`` are the batch's records (row i is ``spans[i]``); computed
        once per batch, so every processor shares it.
        """
        found: NDArray[np.bool_] | None = self.derived.get("errors")
        if found is None:
            from otel_perf.semconv import http_status

            found = self.status == STATUS_ERROR
            rows = np.flatnonzero((self.kind == KIND_SERVER) & ~found)
            if rows.size:
                codes = [http_status(spans[r].attributes) for r in rows.tolist()]
                found[rows] = [c is not None and c >= 500 for c in codes]
            self.derived["errors"] = found
        return found

    def operations(self, spans: Sequence[SpanRecord]) -> Operations:
        """Per row, the operation the span is counted under (:func:`otel_perf.semconv.operation`).

        Computed once per batch and shared by every processor: one call of the rule per
        distinct combination of the columns it reads (see :mod:`otel_perf.operation_column`).
        """
        found: Operations | None = self.derived.get("operations")
        if found is None:
            from otel_perf.operation_column import operations

            found = self.derived["operations"] = operations(self, spans)
        return found

    def text(self, column: I32, row: int) -> str | None:
        """The string at ``row`` of an id column, or None when absent (or not a string)."""
        index = int(column[row])
        return None if index < 0 else self.strings[index]


FACTS = (ROUTE_KEYS, PEER_KEYS, DB_STATEMENT_KEYS)
"""The per-span facts the native decoder picks, in the order of its ``facts`` buffer."""


def from_buffers(
    buffers: Mapping[str, bytes], strings: list[str], keys: Sequence[str]
) -> SpanColumns:
    """Columns over the native decoder's buffers (see ``_columnar.c``), without copying.

    ``keys`` are the kept attribute keys in the order of the decoder's key columns.
    """
    rows = len(buffers["start_ns"]) // 8
    matrix = np.frombuffer(buffers["attributes"], np.int32).reshape(rows, len(keys))
    present = np.flatnonzero(np.frombuffer(buffers["present"], np.uint8))
    facts = np.frombuffer(buffers["facts"], np.int32).reshape(rows, len(FACTS))
    start_ns = np.frombuffer(buffers["start_ns"], np.int64)
    end_ns = np.frombuffer(buffers["end_ns"], np.int64)
    return SpanColumns(
        strings=strings,
        trace_id=np.frombuffer(buffers["trace_id"], np.uint8).reshape(rows, 16),
        span_id=np.frombuffer(buffers["span_id"], np.uint8).reshape(rows, 8),
        parent_span_id=np.frombuffer(buffers["parent_span_id"], np.uint8).reshape(rows, 8),
        start_ns=start_ns,
        end_ns=end_ns,
        duration_ns=end_ns - start_ns,
        kind=np.frombuffer(buffers["kind"], np.int8),
        status=np.frombuffer(buffers["status"], np.int8),
        parent=np.frombuffer(buffers["parent"], np.int32),
        service=np.frombuffer(buffers["service"], np.int32),
        scope=np.frombuffer(buffers["scope"], np.int32),
        name=np.frombuffer(buffers["name"], np.int32),
        route=facts[:, 0],
        peer=facts[:, 1],
        db_statement=facts[:, 2],
        attributes={keys[int(k)]: matrix[:, k] for k in present},
    )


def from_records(spans: Sequence[SpanRecord]) -> SpanColumns:
    """The same columns built from records (the pure-Python path)."""
    strings: list[str] = []
    index: dict[str, int] = {}

    def intern(text: str) -> int:
        found = index.get(text)
        if found is None:
            found = index[text] = len(strings)
            strings.append(text)
        return found

    rows = len(spans)
    ids = {
        "service": np.fromiter((intern(s.service_name) for s in spans), np.int32, rows),
        "scope": np.fromiter((intern(s.scope_name) for s in spans), np.int32, rows),
        "name": np.fromiter((intern(s.name) for s in spans), np.int32, rows),
    }
    triples = [
        (row, intern(key), intern(value) if isinstance(value, str) else OTHER)
        for row, span in enumerate(spans)
        for key, value in span.attributes.items()
    ]
    triple_array = np.array(triples, np.int32).reshape(-1, 3)
    return _assemble(
        strings,
        _id_matrix([s.trace_id for s in spans], 16),
        _id_matrix([s.span_id for s in spans], 8),
        _id_matrix([s.parent_span_id or b"\0" * 8 for s in spans], 8),
        np.fromiter((s.start_ns for s in spans), np.int64, rows),
        np.fromiter((s.end_ns for s in spans), np.int64, rows),
        np.fromiter((min(s.kind, 127) for s in spans), np.int8, rows),
        np.fromiter((min(s.status_code, 127) for s in spans), np.int8, rows),
        ids,
        _attribute_columns(triple_array, strings, rows),
    )


def _id_matrix(ids: list[bytes], size: int) -> NDArray[np.uint8]:
    """One row per id; an id of another length (hand-made records) is cut or zero-padded."""
    joined = b"".join(ids)
    if len(joined) != len(ids) * size:
        joined = b"".join(bytes(i[:size]).ljust(size, b"\0") for i in ids)
    return np.frombuffer(joined, np.uint8).reshape(len(ids), size)


def _assemble(
    strings: list[str],
    trace_id: NDArray[np.uint8],
    span_id: NDArray[np.uint8],
    parent_span_id: NDArray[np.uint8],
    start_ns: NDArray[np.int64],
    end_ns: NDArray[np.int64],
    kind: NDArray[np.int8],
    status: NDArray[np.int8],
    ids: Mapping[str, I32],
    attributes: dict[str, I32],
) -> SpanColumns:
    nonempty = np.fromiter((bool(s) for s in strings), bool, len(strings))
    rows = len(start_ns)
    return SpanColumns(
        strings=strings,
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent_span_id,
        start_ns=start_ns,
        end_ns=end_ns,
        duration_ns=end_ns - start_ns,
        kind=kind,
        status=status,
        parent=parent_rows(trace_id, span_id, parent_span_id),
        service=ids["service"],
        scope=ids["scope"],
        name=ids["name"],
        route=_first_present(attributes, ROUTE_KEYS, nonempty, rows),
        peer=_first_present(attributes, PEER_KEYS, nonempty, rows),
        db_statement=_first_present(attributes, DB_STATEMENT_KEYS, nonempty, rows),
        attributes=attributes,
    )


def _attribute_columns(triples: NDArray[Any], strings: list[str], rows: int) -> dict[str, I32]:
    """Dense id columns per key from (row, key id, value id) triples; a later value wins."""
    out: dict[str, I32] = {}
    for key_id in np.unique(triples[:, 1]):
        chosen = triples[triples[:, 1] == key_id]
        column = np.full(rows, NONE, np.int32)
        column[chosen[:, 0]] = chosen[:, 2]  # rows repeat in order: the last assignment stays
        out[strings[int(key_id)]] = column
    return out


def _first_present(
    attributes: Mapping[str, I32], keys: tuple[str, ...], nonempty: NDArray[np.bool_], rows: int
) -> I32:
    """Per row, the first of ``keys`` holding a non-empty string, else -1."""
    out = np.full(rows, NONE, np.int32)
    for key in reversed(keys):
        column = attributes.get(key)
        if column is None:
            continue
        present = column >= 0
        present[present] = nonempty[column[present]]
        out = np.where(present, column, out)
    return out


def parent_rows(
    trace_id: NDArray[np.uint8], span_id: NDArray[np.uint8], parent_span_id: NDArray[np.uint8]
) -> I32:
    """The row of each span's parent within the batch (same trace id), else -1.

    When a (trace id, span id) repeats, its first row is the parent; a span is never its
    own parent. Keys are the whole 24 bytes, so no id pattern can make two keys collide.
    """
    rows = len(span_id)
    out = np.full(rows, NONE, np.int32)
    if rows == 0:
        return out
    own = _id_keys(trace_id, span_id)
    wanted = _id_keys(trace_id, parent_span_id)
    _, inverse = np.unique(np.concatenate([own, wanted]), return_inverse=True)
    inverse = inverse.reshape(-1)
    first = np.full(2 * rows, NONE, np.int32)
    first[inverse[rows - 1 :: -1]] = np.arange(rows - 1, -1, -1, dtype=np.int32)  # first wins
    candidate = first[inverse[rows:]]
    found = (candidate != NONE) & parent_span_id.any(axis=1) & (candidate != np.arange(rows))
    out[found] = candidate[found]
    return out


def _id_keys(trace_id: NDArray[np.uint8], span_id: NDArray[np.uint8]) -> NDArray[np.void]:
    """Each row's trace id and span id as one 24-byte key."""
    joined = np.ascontiguousarray(np.concatenate([trace_id, span_id], axis=1))
    return joined.view(np.dtype((np.void, 24))).reshape(-1)
