"""The regression processor's span intake on the batch's columns: keys once per combination.

:func:`keys.operation_key` reads a span's kind, its name (entry spans only) and a few
attributes; it runs once per distinct combination of those in the batch
(:mod:`otel_perf.facts`). Spans are then grouped by (resource, key, kind, name of a
SERVER span) so each group's samples are added at once, in batch order within the group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from otel_perf.columns import NONE, SpanColumns
from otel_perf.facts import by_rule, group_rows, value_codes
from otel_perf.model import SpanKind, SpanRecord
from otel_perf.processors.regression.keys import operation_key

ENTRY_KEYS = ("http.route", "http.request.method", "http.method")
STATEMENT_KEYS = ("db.query.text", "db.statement", "db.system.name", "db.system")


@dataclass(frozen=True, slots=True)
class KeyGroup:
    """Keyed rows of one service, version and key, in batch order.

    Attributes:
        key: the rows' key (:func:`keys.operation_key`).
        first: the group's first row (its span stands for all).
        rows: the group's rows, in batch order.
    """

    key: str
    first: int
    rows: list[int]


@dataclass(frozen=True, slots=True)
class Intake:
    """A batch for the regression processor.

    Attributes:
        groups: rows by service, version and key (what versions, usage and statements
            are keyed by), in order of first appearance.
        servers: keyed SERVER rows by service and span name (what automatic baselines
            are keyed by), as (first row, rows in batch order).
        last_ns: the latest end of a keyed span.
        names, ids: ``names[ids[row]]`` is a row's key (None: no regression series).
    """

    groups: list[KeyGroup]
    servers: list[tuple[int, list[int]]]
    last_ns: int
    names: tuple[str | None, ...]
    ids: NDArray[np.int32]

    def keys(self) -> list[str | None]:
        """Every row's key."""
        return [self.names[i] for i in self.ids.tolist()]


def intake(columns: SpanColumns, spans: Sequence[SpanRecord]) -> Intake | None:
    """The batch's keyed rows grouped (:class:`Intake`); None when no span has a key."""
    kind = columns.kind
    entry = (kind == SpanKind.SERVER) | (kind == SpanKind.CONSUMER)
    client = kind == SpanKind.CLIENT
    parts: list[NDArray[np.integer]] = [kind, np.where(entry, columns.name, NONE)]
    parts += [value_codes(columns, spans, k, entry) for k in ENTRY_KEYS]
    parts += [value_codes(columns, spans, k, client) for k in STATEMENT_KEYS]
    first, combination = group_rows([p for p in parts if p is kind or (p != NONE).any()])
    names, ids = by_rule(operation_key, spans, first, combination)
    rows = np.flatnonzero(np.array([name is not None for name in names], bool)[ids])
    if not rows.size:
        return None
    resources = np.fromiter((id(spans[r].resource) for r in rows.tolist()), np.int64, rows.size)
    merged: dict[tuple[object, ...], KeyGroup] = {}
    for row, members in _groups(rows, [resources, ids[rows]]):
        span = spans[row]
        key = str(names[ids[row]])
        alike = (span.resource.service_name, span.resource.service_version, key)
        found = merged.get(alike)
        if found is None:
            merged[alike] = KeyGroup(key, row, members)
        else:  # another resource of the same service and version: one group, in batch order
            found.rows[:] = sorted(found.rows + members)
    server = rows[kind[rows] == SpanKind.SERVER]
    servers = _groups(server, [columns.service[server], columns.name[server]])
    last_ns = int(columns.end_ns[rows].max())
    return Intake(list(merged.values()), servers, last_ns, names, ids)


def _groups(
    rows: NDArray[np.intp], parts: list[NDArray[np.integer]]
) -> list[tuple[int, list[int]]]:
    """``rows`` grouped by ``parts`` (one value per row each): (first row, rows) per group."""
    if not rows.size:
        return []
    first, group = group_rows(parts)
    order = np.argsort(group, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(group)))).tolist()
    members = rows[order].tolist()
    return [(row, members[bounds[g] : bounds[g + 1]]) for g, row in enumerate(rows[first].tolist())]
