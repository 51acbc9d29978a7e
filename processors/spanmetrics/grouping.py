"""A batch's spans grouped by series on the columns, so series keys are made per group.

Rows that share the interval they land in, the service, the operation (the batch's
operation column), the kind, the priority and every dimension's value can only go to
one series: the keyer is asked once per group (:meth:`Keyer.take`), not once per span.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from otel_perf.columns import NONE, OTHER, SpanColumns
from otel_perf.facts import group_by, nonempty, value_codes
from otel_perf.model import SpanKind, SpanRecord
from otel_perf.operation_column import Operations
from otel_perf.processors.spanmetrics.keys import ALIASES, Keyer, priority


@dataclass(frozen=True, slots=True)
class SeriesGroups:
    """The groups of one batch, in order of first appearance.

    Attributes:
        first: per group, its first row (the span its key is made from).
        rows: the batch's rows with a series, group after group, each in batch order.
        bounds: group ``g`` is ``rows[bounds[g]:bounds[g + 1]]``.
        start_ns: per group, the start of the interval its spans land in.
        late: spans whose interval had closed (counted, moved to the oldest open one).
        priority: per group, :func:`keys.priority` of its spans.
        dims: per dimension, per group, the value's id in the batch's string table
            (aliases filled in), -1 when absent, -2 and below for a value that is not a
            string (read from the record then).
        errors: per group, how many of its spans are errors (``SpanColumns.errors``).
    """

    first: list[int]
    rows: NDArray[np.intp]
    bounds: list[int]
    start_ns: list[int]
    late: int
    priority: list[int] = field(default_factory=list)
    dims: list[list[int]] = field(default_factory=list)
    errors: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))


def series_groups(
    columns: SpanColumns,
    spans: Sequence[SpanRecord],
    operations: Operations,
    interval_ns: int,
    watermark_ns: int,
    dimensions: Sequence[str],
    by_resource: bool,
) -> SeriesGroups:
    """Group rows by series (module docstring); framework-internal spans are left out.

    ``by_resource`` keeps spans of different resources apart (when resource attributes
    are dimensions too).
    """
    slot = columns.end_ns // interval_ns  # the interval each span lands in, by its end
    floor = watermark_ns // interval_ns  # the watermark is a multiple of the interval
    late = int(np.count_nonzero(slot < floor))
    if late:
        slot = np.maximum(slot, floor)
    names = operations.names
    rows: NDArray[np.intp] | None = None  # None: every row
    if None in names:
        internal = np.array([name is None for name in names], bool)[operations.ids]
        rows = np.flatnonzero(~internal)
        if not rows.size:
            return SeriesGroups([], rows, [0], [], late)
    priorities = _priorities(columns, spans, operations)
    dims = _dimension_codes(columns, spans, dimensions)
    # the operation, kind and priority are the combination's: one code for the three
    first = operations.first
    series = (operations.ids[first].astype(np.int64) * 8 + columns.kind[first]) * 2 + priorities
    parts: list[NDArray[np.integer]] = [
        slot,
        columns.service,
        series[operations.combination],
        *dims,
    ]
    if by_resource:
        parts.append(np.fromiter((id(s.resource) for s in spans), np.int64, len(spans)))
    firsts, order, bounds, errors = group_by(parts, rows, columns.errors(spans))
    return SeriesGroups(
        firsts.tolist(),
        order,
        bounds.tolist(),
        (slot[firsts] * interval_ns).tolist(),
        late,
        priorities[operations.combination[firsts]].tolist(),
        [codes[firsts].tolist() for codes in dims],
        errors,
    )


def _priorities(
    columns: SpanColumns, spans: Sequence[SpanRecord], operations: Operations
) -> NDArray[np.int8]:
    """:func:`keys.priority` of each combination's first span: an entry span with a
    non-empty ``http.route`` or ``rpc.method`` string; a value of another type is judged
    on the record, as the rule reads it."""
    first = operations.first
    kind = columns.kind[first]
    entry = (kind == SpanKind.SERVER) | (kind == SpanKind.CONSUMER)
    routed = np.zeros(len(first), bool)
    other = np.zeros(len(first), bool)
    for key in ("http.route", "rpc.method"):
        column = columns.attributes.get(key)
        if column is not None:
            routed |= nonempty(columns, key)[first]
            other |= column[first] == OTHER
    out: NDArray[np.int8] = (entry & routed).astype(np.int8)
    for i in np.flatnonzero(entry & other & ~routed).tolist():
        out[i] = priority(spans[int(first[i])])
    return out


def _dimension_codes(
    columns: SpanColumns, spans: Sequence[SpanRecord], dimensions: Sequence[str]
) -> list[NDArray[np.int32]]:
    """Per dimension, each row's value as a code; an absent value falls back to the aliases."""
    book: dict[tuple[type, str], int] = {}
    out = []
    for name in dimensions:
        codes = value_codes(columns, spans, name, book=book)
        for alias in ALIASES.get(name, ()):
            missing = codes == NONE
            if missing.any() and alias in columns.attributes:
                codes = np.where(missing, value_codes(columns, spans, alias, book=book), codes)
        out.append(codes)
    return out


def group_raws(
    keyer: Keyer,
    groups: SeriesGroups,
    columns: SpanColumns,
    spans: Sequence[SpanRecord],
    operations: Operations,
) -> tuple[list[tuple[object, ...]], list[str]]:
    """Per group, what :meth:`Keyer.raw` makes of its first span, and its service.

    Read from the string table when every dimension holds a string or nothing (the
    common case); from the span itself when one does not, or when resource attributes
    are dimensions too.
    """
    first = groups.first
    services = [spans[row].resource.service_name for row in first]
    names = operations.names
    ops = list(map(names.__getitem__, operations.ids[first].tolist()))
    if keyer.resource_dimensions:
        return [keyer.raw(spans[r], str(op)) for r, op in zip(first, ops, strict=True)], services
    kinds = columns.kind[first].tolist()
    table = [*columns.strings, None]  # an id of -1 (absent) reads the None at the end
    values = [list(map(table.__getitem__, codes)) for codes in groups.dims]
    raws: list[tuple[object, ...]] = list(zip(services, ops, kinds, *values, strict=True))
    for codes in groups.dims:
        if codes and min(codes) < NONE:
            for g in [g for g, c in enumerate(codes) if c < NONE]:
                # a value that is not a string: read as the span holds it
                raws[g] = keyer.raw(spans[first[g]], str(ops[g]))
    return raws, services
