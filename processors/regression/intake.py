"""The regression processor's keys and samples on the batch's columns, per key not per span.

:func:`keys.operation_key` reads a span's kind, its name (entry spans only) and a few
attributes, all of which the batch's shared operation column (:mod:`otel_perf.facts`)
already tells apart except an entry span's name beside a route: rows are grouped on that
column's combination and the name, the rule runs once per group and its answer is spread
to every row. The keyed rows are then grouped by (service, version, key) — and the SERVER
ones by (service, span name), the automatic baselines' series — in order of first
appearance, each group's rows in batch order, so a group's samples are added as one array
slice (``processor.py``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from otel_perf.columns import SpanColumns
from otel_perf.facts import I32, by_rule, group_rows
from otel_perf.model import SpanKind, SpanRecord
from otel_perf.processors.regression.keys import operation_key

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
Positions = NDArray[Any] | slice  # rows of a group: a slice when they lie together
DENSE_LIMIT = 1 << 16  # codes grouped through a table up to this range
_ENTRY = np.zeros(256, bool)  # by kind (as uint8): an entry span (SERVER, CONSUMER)
_ENTRY[[SpanKind.SERVER, SpanKind.CONSUMER]] = True
_CLIENT = np.zeros(256, bool)
_CLIENT[SpanKind.CLIENT] = True


def key_ids(
    columns: SpanColumns, spans: Sequence[SpanRecord]
) -> tuple[tuple[str | None, ...], I32, I32]:
    """The rows that can have a key (entry spans, client spans with a statement), the distinct
    :func:`keys.operation_key` answers among them, and each such row's id into those
    answers (None: no regression series)."""
    kind = columns.kind.view(np.uint8)
    entry = _ENTRY[kind]
    # a client span is keyed by its statement only (db.query.text, else db.statement)
    rows = np.flatnonzero(entry | (_CLIENT[kind] & (columns.db_statement >= 0)))
    combination = columns.operations(spans).combination[rows]
    # the operation column drops a routed entry span's name; the key reads its suffix
    named = np.where(entry[rows], columns.name[rows] + 1, 0)
    first, group = dense_groups(combination.astype(np.intp) * (len(columns.strings) + 1) + named)
    names, ids = by_rule(operation_key, spans, rows[first].astype(np.int32), group)
    return names, rows.astype(np.int32), ids


def dense_groups(code: NDArray[np.intp]) -> tuple[I32, I32]:
    """:func:`otel_perf.facts.group_rows` of one non-negative code, through a table as long
    as the codes' range when that is small (no renumbering)."""
    size = int(code.max()) + 1 if len(code) else 0
    if size > DENSE_LIMIT:
        return group_rows([code])
    rows = np.arange(len(code))
    first_of = np.full(size, len(code), np.intp)
    np.minimum.at(first_of, code, rows)
    firsts = first_of[code]  # each row's group, named by its first row
    starts = firsts == rows
    rank = np.cumsum(starts, dtype=np.int32) - 1
    return np.flatnonzero(starts).astype(np.int32), rank[firsts]


def row_keys(columns: SpanColumns, spans: Sequence[SpanRecord]) -> list[str | None]:
    """Every row's :func:`keys.operation_key` (None: no regression series)."""
    names, rows, ids = key_ids(columns, spans)
    out: list[str | None] = [None] * len(columns)
    for row, i in zip(rows.tolist(), ids.tolist(), strict=True):
        out[row] = names[i]
    return out


@dataclass(frozen=True, slots=True)
class Groups:
    """Rows grouped: groups in order of first appearance, each group's rows together and in
    batch order; group ``g`` is ``rows[bounds[g]:bounds[g + 1]]``."""

    rows: I32
    bounds: list[int]
    first: list[int]  # each group's first position in the rows given to :func:`groups_of`

    def __len__(self) -> int:
        return len(self.first)


def groups_of(rows: I32, code: NDArray[np.intp]) -> Groups:
    """``rows`` grouped by ``code`` (one non-negative value per row)."""
    first, group = dense_groups(code)
    order = np.argsort(group, kind="stable")
    bounds = np.zeros(len(first) + 1, np.intp)
    np.cumsum(np.bincount(group, minlength=len(first)), out=bounds[1:])
    return Groups(rows[order], bounds.tolist(), first.tolist())


@dataclass(frozen=True, slots=True)
class Keyed:
    """The rows of a batch that have a key, grouped by (service, version, key) and, for
    SERVER spans, their name (what an automatic baseline is named by).

    Attributes:
        keys: the distinct keys.
        sources: the distinct (service, version) of the rows' resources.
        groups: the rows by (source, key, SERVER span name).
        key, source: per group, its key and its source (indexes into those).
        server_name: per group, the string id of its SERVER spans' name; -1 for groups of
            other kinds.
        value_ms, end_ns: per row of ``groups.rows``, its duration (ms) and end.
    """

    keys: tuple[str, ...]
    sources: tuple[tuple[str, str | None], ...]
    groups: Groups
    key: list[int]
    source: list[int]
    server_name: list[int]
    value_ms: F64
    end_ns: I64

    def one_version_per_service(self) -> bool:
        """Whether each service comes with one version (or none) only: then adding the
        samples group by group leaves the state as adding them span by span does."""
        return len({service for service, _ in self.sources}) == len(self.sources)

    def by_key(self) -> Iterator[tuple[int, int, Positions]]:
        """(source, key, positions) of each (source, key) in order of first appearance,
        positions into ``groups.rows`` in batch order: a group's slice when no two groups
        share a key (SERVER spans of one key under several names are merged)."""
        pairs = list(zip(self.source, self.key, strict=True))
        bounds = self.groups.bounds
        if len(set(pairs)) == len(pairs):
            for g, (source, key) in enumerate(pairs):
                yield source, key, slice(bounds[g], bounds[g + 1])
            return
        at = np.argsort(self.groups.rows, kind="stable")  # positions in batch order
        per_group = np.array([s * len(self.keys) + k for s, k in pairs], np.intp)
        merged = groups_of(at.astype(np.int32), np.repeat(per_group, np.diff(bounds))[at])
        for low, high in itertools.pairwise(merged.bounds):
            g = int(np.searchsorted(bounds, merged.rows[low], side="right")) - 1
            yield self.source[g], self.key[g], merged.rows[low:high]


def keyed_rows(columns: SpanColumns, spans: Sequence[SpanRecord]) -> Keyed | None:
    """The batch's keyed rows (None when it has none); durations and times from the
    columns, service and version read once per resource."""
    names, rows, key = key_ids(columns, spans)
    kept = [i for i, name in enumerate(names) if name is not None]
    if not kept:
        return None
    if len(kept) < len(names):  # some rows have no key: leave them out
        renumber = np.full(len(names), -1, np.int32)
        renumber[kept] = np.arange(len(kept), dtype=np.int32)
        key = renumber[key]
        keyed = key >= 0
        rows, key = rows[keyed], key[keyed]
    sources, source = _sources(spans, rows)
    code = key.astype(np.intp) if len(sources) == 1 else source * len(kept) + key
    server_name = np.where(columns.kind[rows] == SpanKind.SERVER, columns.name[rows], -1)
    groups = groups_of(rows, code * (len(columns.strings) + 1) + server_name + 1)
    return Keyed(
        keys=tuple(name for name in names if name is not None),
        sources=sources,
        groups=groups,
        key=key[groups.first].tolist(),
        source=source[groups.first].tolist(),
        server_name=server_name[groups.first].tolist(),
        value_ms=columns.duration_ns[groups.rows] / 1e6,
        end_ns=columns.end_ns[groups.rows],
    )


def _sources(
    spans: Sequence[SpanRecord], rows: I32
) -> tuple[tuple[tuple[str, str | None], ...], I64]:
    """The distinct (service, version) of the rows' resources, and each row's index."""
    by_resource: dict[int, int] = {}
    sources: dict[tuple[str, str | None], int] = {}
    source = np.empty(len(rows), np.int64)
    last, found = None, 0
    for i, row in enumerate(rows.tolist()):
        resource = spans[row].resource
        if resource is not last:  # spans of one resource come together
            last = resource
            known = by_resource.get(id(resource))  # the batch holds its resources: unique
            if known is None:
                pair = (resource.service_name, resource.service_version)
                known = by_resource[id(resource)] = sources.setdefault(pair, len(sources))
            found = known
        source[i] = found
    return tuple(sources), source
