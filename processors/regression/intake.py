"""The regression processor's keys on the batch's columns: the rule once per combination.

:func:`keys.operation_key` reads a span's kind, its name (entry spans only) and a few
attributes; it runs once per distinct combination of those in the batch
(:mod:`otel_perf.facts`) and its answer is spread to every row. (Adding the samples group
by group was measured too: with ~16 spans per group on the ingest benchmark's traffic the
grouping cost more than it saved, so samples are still added span by span.)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

from otel_perf.columns import NONE, SpanColumns
from otel_perf.facts import I32, by_rule, group_rows, value_codes
from otel_perf.model import SpanKind, SpanRecord
from otel_perf.processors.regression.keys import operation_key

ENTRY_KEYS = ("http.route", "http.request.method", "http.method")
STATEMENT_KEYS = ("db.query.text", "db.statement", "db.system.name", "db.system")
Keyed = tuple[SpanRecord, str, float, int]  # span, key, duration (ms), end (ns)


def key_ids(
    columns: SpanColumns, spans: Sequence[SpanRecord]
) -> tuple[tuple[str | None, ...], I32, I32]:
    """The rows that can have a key (entry and client spans), the distinct
    :func:`keys.operation_key` answers among them, and each such row's id into those
    answers (None: no regression series)."""
    kind = columns.kind
    entry = (kind == SpanKind.SERVER) | (kind == SpanKind.CONSUMER)
    client = kind == SpanKind.CLIENT
    rows = np.flatnonzero(entry | client).astype(np.int32)
    parts: list[NDArray[np.integer]] = [kind, np.where(entry, columns.name, NONE)]
    parts += [value_codes(columns, spans, k, entry) for k in ENTRY_KEYS]
    parts += [value_codes(columns, spans, k, client) for k in STATEMENT_KEYS]
    kept = [p[rows] for p in parts if p is kind or (p != NONE).any()]
    first, combination = group_rows(kept)
    names, ids = by_rule(operation_key, spans, rows[first], combination)
    return names, rows, ids


def row_keys(columns: SpanColumns, spans: Sequence[SpanRecord]) -> list[str | None]:
    """Every row's :func:`keys.operation_key` (None: no regression series)."""
    names, rows, ids = key_ids(columns, spans)
    out: list[str | None] = [None] * len(columns)
    for row, i in zip(rows.tolist(), ids.tolist(), strict=True):
        out[row] = names[i]
    return out


def keyed_rows(columns: SpanColumns, spans: Sequence[SpanRecord]) -> Iterator[Keyed]:
    """``(span, key, value_ms, end_ns)`` of the rows that have a key, in batch order; the
    durations and times read from the columns at once."""
    names, candidates, ids = key_ids(columns, spans)
    if all(name is None for name in names):
        return iter(())
    keyed = np.array([name is not None for name in names])[ids]
    rows, ids = candidates[keyed], ids[keyed]
    value_ms = (columns.duration_ns[rows] / 1e6).tolist()
    keys = [names[i] for i in ids.tolist()]
    picked = [spans[r] for r in rows.tolist()]
    return zip(picked, keys, value_ms, columns.end_ns[rows].tolist(), strict=True)
