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
    rows = len(columns)
    if not rows:
        return []
    code = _BY_KIND[columns.kind.view(np.uint8)]
    for key, category in (("messaging.system", 1), ("db.system", 0), ("db.system.name", 0)):
        column = columns.attributes.get(key)
        if column is not None:
            code = np.where(column != NONE, np.minimum(code, category), code)
    # one small int per (service, category): counted, and its times reduced, without sorting
    packed = (columns.service.astype(np.intp) + 1) * len(CODES) + code
    size = int(packed.max()) + 1
    counts = np.bincount(packed, minlength=size)
    first = np.full(size, rows, np.intp)
    np.minimum.at(first, packed, np.arange(rows))
    low = np.full(size, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(low, packed, columns.end_ns)
    high = np.full(size, np.iinfo(np.int64).min, np.int64)
    np.maximum.at(high, packed, columns.end_ns)
    groups = np.flatnonzero(counts)
    groups = groups[np.argsort(first[groups])]  # in order of first appearance
    strings = columns.strings
    return [
        (strings[g // len(CODES) - 1], CODES[g % len(CODES)], n, lo, hi)
        for g, n, lo, hi in zip(
            groups.tolist(),
            counts[groups].tolist(),
            low[groups].tolist(),
            high[groups].tolist(),
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
    end_ns, services = columns.end_ns[rows], columns.service[rows]
    start = end_ns - end_ns % window_ns
    seconds = columns.duration_ns[rows] / 1_000_000_000
    if services.min() == services.max() and start.min() == start.max():  # the usual batch
        return [(columns.strings[int(services[0])], [(int(start[0]), seconds)])]
    first, group = group_rows([services])
    order = np.lexsort((start, group))  # stable: batch order inside a window
    group, start = group[order], start[order]
    seconds = seconds[order]
    cut = np.flatnonzero((group[1:] != group[:-1]) | (start[1:] != start[:-1])) + 1
    bounds = [0, *cut.tolist(), len(order)]
    out: ServerWindows = [(columns.strings[s], []) for s in services[first].tolist()]
    for low, high in itertools.pairwise(bounds):
        out[int(group[low])][1].append((int(start[low]), seconds[low:high]))
    return out
