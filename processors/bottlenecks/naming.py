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

from otel_perf.model import SpanBatch
from otel_perf.semconv import kept_operation


def kept_operations(batch: SpanBatch) -> list[str]:
    """``kept_operation(span)`` for every span of ``batch``, in order.

    Framework-internal is a matter of kind and name, which every combination fixes, so
    a combination without an operation is named once, on its first span.
    """
    spans = batch.spans
    if not spans:
        return []
    found = batch.columns().operations(spans)
    names, ids = found.names, found.ids
    table: list[str] = []
    for row in found.first.tolist():
        name = names[ids[row]]
        table.append(kept_operation(spans[row]) if name is None else name)
    return [table[c] for c in found.combination.tolist()]
