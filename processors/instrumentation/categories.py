"""Span categories and SERVER durations of a batch, on its columns (one pass per batch).

:func:`coverage.category` for every row at once: ``db`` where ``db.system.name`` or
``db.system`` is carried, ``messaging`` for producers, consumers and spans carrying
``messaging.system``, else by kind.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from otel_perf.columns import NONE, SpanColumns
from otel_perf.facts import group_rows
from otel_perf.model import SpanKind

#: :data:`coverage.CATEGORIES` names by code, in the order :func:`category` tests them
CODES = ("db", "messaging", "server", "client", "internal")


def span_categories(columns: SpanColumns) -> list[tuple[str, str, int, int, int]]:
    """(service, category, spans, first end ns, last end ns) per pair, in order of first
    appearance."""
    if not len(columns):
        return []
    kind = columns.kind
    code = np.select(
        [
            _carries(columns, "db.system.name") | _carries(columns, "db.system"),
            (kind == SpanKind.PRODUCER)
            | (kind == SpanKind.CONSUMER)
            | _carries(columns, "messaging.system"),
            kind == SpanKind.SERVER,
            kind == SpanKind.CLIENT,
        ],
        [0, 1, 2, 3],
        4,
    )
    first, group = group_rows([columns.service, code])
    end_ns = columns.end_ns
    low = np.full(len(first), np.iinfo(np.int64).max, np.int64)
    high = np.full(len(first), np.iinfo(np.int64).min, np.int64)
    np.minimum.at(low, group, end_ns)
    np.maximum.at(high, group, end_ns)
    counts = np.bincount(group).tolist()
    services = columns.service[first].tolist()
    codes = code[first].tolist()
    return [
        (columns.strings[s], CODES[c], n, lo, hi)
        for s, c, n, lo, hi in zip(
            services, codes, counts, low.tolist(), high.tolist(), strict=True
        )
    ]


def server_durations(columns: SpanColumns) -> list[tuple[str, list[tuple[int, float]]]]:
    """Per service with SERVER spans: (end ns, duration s) of each, in batch order."""
    rows = np.flatnonzero(columns.kind == SpanKind.SERVER)
    if not rows.size:
        return []
    first, group = group_rows([columns.service[rows]])
    order = np.argsort(group, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(group)))).tolist()
    ends = columns.end_ns[rows][order].tolist()
    seconds = (columns.duration_ns[rows][order] / 1_000_000_000).tolist()
    pairs = list(zip(ends, seconds, strict=True))
    services = columns.service[rows[first]].tolist()
    return [(columns.strings[s], pairs[bounds[g] : bounds[g + 1]]) for g, s in enumerate(services)]


def _carries(columns: SpanColumns, key: str) -> NDArray[np.bool_]:
    column = columns.attributes.get(key)
    return np.zeros(len(columns), bool) if column is None else column != NONE
