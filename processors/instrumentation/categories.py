"""Span categories and SERVER durations of a batch, on its columns (one pass per batch).

:func:`coverage.category` for every row at once: ``db`` where ``db.system.name`` or
``db.system`` is carried, ``messaging`` for producers, consumers and spans carrying
``messaging.system``, else by kind.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.typing import NDArray

from otel_perf.columns import NONE, SpanColumns
from otel_perf.facts import group_rows
from otel_perf.model import SpanKind

#: :data:`coverage.CATEGORIES` names by code, in the order :func:`category` tests them
CODES = ("db", "messaging", "server", "client", "internal")
_BY_KIND = np.full(256, CODES.index("internal"), np.int8)  # by kind (as uint8): the code
_BY_KIND[[SpanKind.PRODUCER, SpanKind.CONSUMER]] = CODES.index("messaging")
_BY_KIND[SpanKind.SERVER] = CODES.index("server")
_BY_KIND[SpanKind.CLIENT] = CODES.index("client")


def span_categories(columns: SpanColumns) -> list[tuple[str, str, int, int, int]]:
    """(service, category, spans, first end ns, last end ns) per pair, in order of first
    appearance."""
    if not len(columns):
        return []
    code = _BY_KIND[columns.kind.astype(np.uint8)]
    for key, category in (("messaging.system", 1), ("db.system", 0), ("db.system.name", 0)):
        column = columns.attributes.get(key)
        if column is not None:
            code = np.where(column != NONE, np.minimum(code, category), code)
    packed = (columns.service.astype(np.int64) + 1) * len(CODES) + code
    order = np.argsort(packed, kind="stable")  # each group's rows in batch order
    by_group = packed[order]
    starts = np.flatnonzero(np.concatenate(([True], by_group[1:] != by_group[:-1])))
    counts = np.diff(np.append(starts, len(order)))
    end_ns = columns.end_ns[order]
    low, high = np.minimum.reduceat(end_ns, starts), np.maximum.reduceat(end_ns, starts)
    first = order[starts]
    seen = np.argsort(first)  # groups in order of first appearance
    first = first[seen]
    services = columns.service[first].tolist()
    codes = code[first].tolist()
    strings = columns.strings
    return [
        (strings[s], CODES[c], n, lo, hi)
        for s, c, n, lo, hi in zip(
            services,
            codes,
            counts[seen].tolist(),
            low[seen].tolist(),
            high[seen].tolist(),
            strict=True,
        )
    ]


ServerWindows = list[tuple[str, list[tuple[int, NDArray[np.float64]]]]]


def server_windows(columns: SpanColumns, window_ns: int) -> ServerWindows:
    """Per service with SERVER spans (in order of first appearance): per tumbling window
    of ``window_ns`` its spans fall in (by end time, oldest first), their durations in
    seconds, in batch order."""
    rows = np.flatnonzero(columns.kind == SpanKind.SERVER)
    if not rows.size:
        return []
    first, group = group_rows([columns.service[rows]])
    end_ns = columns.end_ns[rows]
    start = end_ns - end_ns % window_ns
    order = np.lexsort((start, group))  # stable: batch order inside a window
    group, start = group[order], start[order]
    seconds = columns.duration_ns[rows][order] / 1_000_000_000
    cut = np.flatnonzero((group[1:] != group[:-1]) | (start[1:] != start[:-1])) + 1
    bounds = [0, *cut.tolist(), len(order)]
    services = columns.service[rows[first]].tolist()
    out: ServerWindows = [(columns.strings[s], []) for s in services]
    for low, high in itertools.pairwise(bounds):
        out[int(group[low])][1].append((int(start[low]), seconds[low:high]))
    return out
