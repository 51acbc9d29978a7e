"""Each span's operation, named once per distinct combination of a batch, not per span.

The analysis counts a span under :func:`otel_perf.semconv.kept_operation`. That is
:func:`otel_perf.semconv.operation` for every span that is not framework-internal, and
the batch's columns name those once per distinct combination of the fields the
rule reads (:meth:`SpanColumns.operations <otel_perf.columns.SpanColumns.operations>`,
shared with span metrics and SLOs). A framework-internal span (an ASGI send/receive,
which the tree folds away) has no operation there: its combination is named
directly, on its first span.
"""

from __future__ import annotations

import numpy as np

from otel_perf.model import SpanBatch
from otel_perf.processors.bottlenecks.held import Named
from otel_perf.semconv import kept_operation


def named_rows(batch: SpanBatch) -> Named:
    """Every span's ``kept_operation(span)`` as an id per row into a table of names, and
    whether it is framework-internal (the tree folds those away).

    Framework-internal is a matter of kind and name, which every combination fixes, so
    a combination without an operation is named once, on its first span.
    """
    spans = batch.spans
    if not spans:
        return Named([], np.zeros(0, np.int32), np.zeros(0, bool))
    found = batch.columns().operations(spans)
    names, first = found.names, found.first
    given = [names[i] for i in found.ids[first].tolist()]
    table = [
        kept_operation(spans[row]) if name is None else name
        for name, row in zip(given, first.tolist(), strict=True)
    ]
    combination = found.combination
    if None not in given:  # the usual batch: no framework-internal span
        return Named(table, combination, np.zeros(len(spans), bool))
    fold = np.array([name is None for name in given], bool)
    return Named(table, combination, fold[combination])


def kept_operations(batch: SpanBatch) -> list[str]:
    """``kept_operation(span)`` for every span of ``batch``, in order."""
    named = named_rows(batch)
    return [named.names[c] for c in named.ids.tolist()]
