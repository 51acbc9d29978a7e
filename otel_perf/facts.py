"""Per-span facts computed once per batch, on the columns: rows grouped, a rule run per group.

A fact such as a span's operation (:func:`otel_perf.semconv.operation`) depends on a few
of its fields: the kind, the name and some attributes. Spans of a batch repeat the same
few combinations of those, so the rule runs once per distinct combination (on the first
span holding it) and its answer is spread back to every row. Combinations are found on
the id columns (:class:`~otel_perf.columns.SpanColumns`): a string attribute by its id in
the batch's string table; a value that is not a string (``OTHER`` in its column) by its
type and ``repr``, read from that span's record, so two rows share a combination only when
the rule cannot tell them apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from otel_perf.columns import NONE, OTHER, SpanColumns
from otel_perf.model import SpanKind, SpanRecord
from otel_perf.semconv import EXIT_OPERATION_KEYS, operation

I32 = NDArray[np.int32]
I64 = NDArray[np.int64]
FIRST_VALUE_CODE = -3
"""Codes of values that are not strings count down from here (-1, -2 are taken)."""

#: what :func:`otel_perf.semconv.route_of` reads of an entry span (besides its name)
ENTRY_KEYS = ("http.route", "http.request.method", "http.method", "rpc.method", "rpc.service")
STATUS_KEYS = ("http.response.status_code", "http.status_code")
PORT_KEY = "server.port"
MAX_CODE = 1 << 62
DENSE_CODES_PER_ROW = 8
"""Codes up to this many per row are grouped through a table; more are renumbered first."""
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Operations:
    """The batch's operations: ``names[ids[row]]`` is row's operation.

    Attributes:
        names: one per distinct operation of the batch; None for framework-internal spans.
        ids: int32 per row, an index into ``names``.
        combination: int32 per row, the row's combination of the fields the rule reads
            (finer than ``ids``: two combinations may name one operation).
        first: per combination, the first row holding it.
    """

    names: tuple[str | None, ...]
    ids: I32
    combination: I32
    first: I32


def group_rows(parts: Sequence[NDArray[np.integer]]) -> tuple[I32, I32]:
    """Rows grouped by their values in every part: (first row of each group, group per row).

    Groups are numbered in order of first appearance. Each row's values become one exact
    int64 code (mixed radix, renumbered densely whenever the next part would overflow it).
    """
    rows = len(parts[0]) if parts else 0
    if rows == 0:
        return np.zeros(0, np.int32), np.zeros(0, np.int32)
    code = np.zeros(rows, np.int64)
    size = 1  # codes are in [0, size)
    for part in parts:
        low, high = int(part.min()), int(part.max())
        radix = high - low + 1
        if radix == 1:
            continue
        if size * radix > MAX_CODE:
            code, size = _renumber(code)
        code = code * radix + (part - low)
        size *= radix
    if size > DENSE_CODES_PER_ROW * rows:
        code, size = _renumber(code)
    first_of = np.empty(size, np.int32)
    order = np.arange(rows, dtype=np.int32)
    first_of[code[::-1]] = order[::-1]  # the last assignment, the earliest row, stays
    first = first_of[code]
    starts = first == order
    rank = np.cumsum(starts, dtype=np.int32) - 1
    return np.flatnonzero(starts).astype(np.int32), rank[first]


def _renumber(code: I64) -> tuple[I64, int]:
    """The same grouping with codes in [0, distinct)."""
    distinct, inverse = np.unique(code, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64), len(distinct)


def value_codes(
    columns: SpanColumns,
    spans: Sequence[SpanRecord],
    key: str,
    keep: NDArray[np.bool_] | None = None,
    others: bool = True,
    book: dict[tuple[type, str], int] | None = None,
) -> I32:
    """``key``'s column, -1 outside ``keep``; a value that is not a string gets a code.

    The code (-3 and down) stands for the value's type and ``repr``, so rows share it
    exactly when their values would print and compare alike; pass one ``book`` to calls
    whose codes are compared with each other. With ``others=False`` such values count as
    absent (for rules that read strings only).
    """
    column = columns.attributes.get(key)
    if column is None:
        return np.full(len(columns), NONE, np.int32)
    out = column if keep is None else np.where(keep, column, NONE).astype(np.int32)
    rows = np.flatnonzero(out == OTHER)
    if not rows.size:
        return out
    out = out.copy()
    if not others:
        out[rows] = NONE
        return out
    codes = {} if book is None else book
    for row in rows.tolist():
        value = spans[row].attributes.get(key)
        found = codes.setdefault((type(value), repr(value)), FIRST_VALUE_CODE - len(codes))
        out[row] = found
    return out


def by_rule(
    rule: Callable[[SpanRecord], T], spans: Sequence[SpanRecord], first: I32, group: I32
) -> tuple[tuple[T, ...], I32]:
    """``rule`` run on each group's first span: (distinct answers, answer id per row)."""
    answers: dict[T, int] = {}
    per_group = np.fromiter(
        (answers.setdefault(rule(spans[row]), len(answers)) for row in first.tolist()),
        np.int32,
        len(first),
    )
    return tuple(answers), per_group[group]


def operations(columns: SpanColumns, spans: Sequence[SpanRecord]) -> Operations:
    """Every row's :func:`otel_perf.semconv.operation`, the rule run once per combination.

    What the rule reads: the kind and the name; of an entry span (SERVER, CONSUMER) its
    route, method and rpc attributes, and the status code only when it has neither a
    route nor an rpc method; of an exit span (CLIENT, PRODUCER) the string attributes of
    ``EXIT_OPERATION_KEYS`` and the port only beside a server address.
    """
    kind = columns.kind
    entry = (kind == SpanKind.SERVER) | (kind == SpanKind.CONSUMER)
    exits = (kind == SpanKind.CLIENT) | (kind == SpanKind.PRODUCER)
    routed = entry & (nonempty(columns, "http.route") | nonempty(columns, "rpc.method"))
    read = [(k, entry, True) for k in ENTRY_KEYS]
    read += [(k, entry & ~routed, True) for k in STATUS_KEYS]
    read += [(k, keep, k == PORT_KEY) for k, keep in _exit_reads(columns, exits).items()]
    # a routed entry span is named by its route, not its name (which may hold raw ids)
    parts: list[NDArray[np.integer]] = [kind, np.where(routed, NONE, columns.name)]
    for key, keep, others in read:
        if key in columns.attributes:
            codes = value_codes(columns, spans, key, keep, others)
            if (codes != NONE).any():
                parts.append(codes)
    first, combination = group_rows(parts)
    names, ids = by_rule(operation, spans, first, combination)
    return Operations(names, ids, combination, first)


def _exit_reads(columns: SpanColumns, exits: NDArray[np.bool_]) -> dict[str, NDArray[np.bool_]]:
    """Per key of ``EXIT_OPERATION_KEYS``, the exit rows where the rule may read it.

    Paths only matter without a route template; full URLs only without a route or
    without a host named otherwise; the port only beside a server address.
    """
    any_of = _any_nonempty
    routed = exits & any_of(columns, "url.template", "http.route")
    hosted = exits & any_of(columns, "server.address", "net.peer.name", "peer.service")
    keep = dict.fromkeys(EXIT_OPERATION_KEYS, exits)
    keep["url.path"] = keep["http.target"] = exits & ~routed
    keep["url.full"] = keep["http.url"] = exits & ~(routed & hosted)
    keep[PORT_KEY] = exits & nonempty(columns, "server.address")
    return keep


def _any_nonempty(columns: SpanColumns, *keys: str) -> NDArray[np.bool_]:
    found = np.zeros(len(columns), bool)
    for key in keys:
        found |= nonempty(columns, key)
    return found


def nonempty(columns: SpanColumns, key: str) -> NDArray[np.bool_]:
    """Per row: does ``key`` hold a non-empty string?"""
    column = columns.attributes.get(key)
    if column is None:
        return np.zeros(len(columns), bool)
    return _nonempty_ids(columns)[column]


def _nonempty_ids(columns: SpanColumns) -> NDArray[np.bool_]:
    """Per string id, is it non-empty; then False twice, for ids -2 and -1 (once per batch)."""
    found: NDArray[np.bool_] | None = columns.derived.get("nonempty")
    if found is None:
        lengths = np.fromiter(map(len, columns.strings), np.int64, len(columns.strings))
        found = columns.derived["nonempty"] = np.concatenate([lengths > 0, [False, False]])
    return found
