"""Per-span facts computed once per batch, on the columns: rows grouped, a rule run per group.

A fact such as a span's operation (:func:`otel_perf.semconv.operation`) depends on a few
of its fields: the kind, the name and some attributes. Spans of a batch repeat the same
few combinations of those, so the rule runs once per distinct combination (on the first
span holding it) and its answer is spread back to every row. Combinations are found on
the id columns (:class:`~otel_perf.columns.SpanColumns`): a string attribute by its id in
the batch's string table; a value that is not a string (``OTHER`` in its column) by its
type and ``repr``, read from that span's record, so two rows share a combination only
when the rule cannot tell them apart. The operation column every processor shares is
built on these in :mod:`otel_perf.operation_column`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from otel_perf.columns import NONE, OTHER, SpanColumns
from otel_perf.model import SpanRecord

try:
    from otel_perf import _groups
except ImportError:  # built without a C compiler: numpy groups the rows
    _groups = None  # type: ignore[assignment]

I32 = NDArray[np.int32]
I64 = NDArray[np.int64]
NATIVE_GROUPS = _groups is not None and os.environ.get("OTEL_PERF_NATIVE_GROUPS", "1") != "0"
"""Whether rows are grouped in C (``otel_perf/_groups.c``; ``OTEL_PERF_NATIVE_GROUPS=0``
turns it off): :func:`group_rows` and :func:`group_by` give the same either way."""
FIRST_VALUE_CODE = -3
"""Codes of values that are not strings count down from here (-1, -2 are taken)."""
MAX_CODE = 1 << 62
DENSE_CODES_PER_ROW = 8
"""Codes up to this many per row are grouped through a table; more are renumbered first."""
T = TypeVar("T")


def group_rows(parts: Sequence[NDArray[np.integer]]) -> tuple[I32, I32]:
    """Rows grouped by their values in every part: (first row of each group, group per row).

    Groups are numbered in order of first appearance: in one pass in C when the
    extension is built (:data:`NATIVE_GROUPS`), else by :func:`group_rows_numpy`.
    """
    rows = len(parts[0]) if parts else 0
    if rows == 0:
        return np.zeros(0, np.int32), np.zeros(0, np.int32)
    if not NATIVE_GROUPS:
        return group_rows_numpy(parts)
    first, grouped = np.empty(rows, np.int64), np.empty(rows, np.int32)
    count = _groups.group(tuple(parts), None, None, first, None, None, None, grouped)
    return first[:count].astype(np.int32), grouped


def group_rows_numpy(parts: Sequence[NDArray[np.integer]]) -> tuple[I32, I32]:
    """:func:`group_rows` in numpy: each row's values become one exact int64 code (mixed
    radix, renumbered densely whenever the next part would overflow it)."""
    rows = len(parts[0])
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


def group_by(
    parts: Sequence[NDArray[np.integer]],
    rows: NDArray[np.intp] | None = None,
    flags: NDArray[np.bool_] | None = None,
) -> tuple[I64, I64, I64, I64]:
    """``rows`` (all rows when None) grouped by their values in every part, sorted.

    Returns (first row of each group, in order of first appearance; the rows group after
    group, each in batch order; the bounds of each group in those; per group, how many of
    its rows are ``flags``, zeros without): in one pass in C when the extension is built,
    else :func:`group_by_numpy`, which it matches.
    """
    if not NATIVE_GROUPS:
        return group_by_numpy(parts, rows, flags)
    m = len(parts[0]) if rows is None else len(rows)
    first, order = np.empty(m, np.int64), np.empty(m, np.int64)
    bounds, flagged = np.empty(m + 1, np.int64), np.empty(m, np.int64)
    picked = None if rows is None else rows.astype(np.int64, copy=False)
    count = _groups.group(tuple(parts), picked, flags, first, order, bounds, flagged, None)
    return first[:count], order, bounds[: count + 1], flagged[:count]


def group_by_numpy(
    parts: Sequence[NDArray[np.integer]],
    rows: NDArray[np.intp] | None = None,
    flags: NDArray[np.bool_] | None = None,
) -> tuple[I64, I64, I64, I64]:
    """:func:`group_by` in numpy: :func:`group_rows_numpy`, then a stable sort."""
    if not (len(parts[0]) if rows is None else len(rows)):
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(1, np.int64), empty
    firsts, grouped = group_rows_numpy(parts if rows is None else [part[rows] for part in parts])
    at: NDArray[np.integer] = np.argsort(grouped, kind="stable")
    first: NDArray[np.integer] = firsts
    counts = np.bincount(grouped, minlength=len(firsts))
    bounds = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    if rows is not None:
        first, at = rows[firsts], rows[at]
        flags = None if flags is None else flags[rows]
    flagged = np.bincount(grouped, flags, len(firsts)).astype(np.int64)
    return first.astype(np.int64), at.astype(np.int64), bounds, flagged


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


def nonempty(columns: SpanColumns, key: str) -> NDArray[np.bool_]:
    """Per row: does ``key`` hold a non-empty string?"""
    column = columns.attributes.get(key)
    if column is None:
        return np.zeros(len(columns), bool)
    return nonempty_ids(columns)[column]


def nonempty_ids(columns: SpanColumns) -> NDArray[np.bool_]:
    """Per string id, is it non-empty; then False twice, for ids -2 and -1 (once per batch)."""
    found: NDArray[np.bool_] | None = columns.derived.get("nonempty")
    if found is None:
        lengths = np.fromiter(map(len, columns.strings), np.int64, len(columns.strings))
        found = columns.derived["nonempty"] = np.concatenate([lengths > 0, [False, False]])
    return found
