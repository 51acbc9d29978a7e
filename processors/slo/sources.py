"""SLIs from telemetry: good and total events per objective per minute.

From spans the counts are exact: every server (or consumer) span is one event,
good when it did not fail (availability) or finished within the threshold
(latency). From received metrics — explicit-bucket or exponential histograms,
counters — they come from the aggregates: a latency threshold between bucket
bounds is interpolated (log-linearly in exponential buckets, linearly in
explicit ones), cumulative streams are turned into deltas.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from otel_perf.component.metricmath import (
    MetricStreams,
    explicit_at_or_below,
    exponential,
    unit_scale,
)
from otel_perf.model import MetricPoint, MetricType, SpanBatch, SpanKind, SpanRecord
from otel_perf.processors.slo.objective import Objective, SLIKind
from otel_perf.semconv import is_error, route_of

MINUTE_NS = 60_000_000_000
REQUEST_KINDS = frozenset({SpanKind.SERVER, SpanKind.CONSUMER})
Add = Callable[[str, int, float, float], None]  # objective name, minute, good, total
ObjectivesOf = Callable[[str, int], list[Objective]]  # service, its requests in the group


def matches_operation(objective: Objective, span: SpanRecord, operation: str | None = None) -> bool:
    """Whether a request span counts for ``objective``: its name, its operation (``route_of``;
    pass the batch's operation column value when known) or its ``http.route``."""
    op = objective.operation
    return (
        op is None
        or op == span.name
        or op == (operation if operation is not None else route_of(span.attributes, span.name))
        or (op == span.attributes.get("http.route"))
    )


def span_events(batch: SpanBatch, objectives_of: ObjectivesOf, add: Add) -> None:
    """Count each request span against the span-sourced objectives of its service.

    On the batch's columns: request spans are grouped by (service, minute of their end)
    in order of first appearance, so each service's objectives are asked for, and each
    objective's minutes added, in the order the spans name them. A whole-service
    objective counts a group at once (latency: durations at or under the threshold;
    availability: spans that are not errors); one restricted to an operation looks at
    the group's spans one by one. ``objectives_of(service, requests)`` gets the group's
    request count (untracked services count each request).
    """
    columns = batch.columns()
    kind = columns.kind
    rows = np.flatnonzero((kind == SpanKind.SERVER) | (kind == SpanKind.CONSUMER))
    if not rows.size:
        return
    spans = batch.spans
    services = columns.service[rows].astype(np.int64) + 1  # -1 (absent) -> 0
    minutes = columns.end_ns[rows] // MINUTE_NS
    # one int64 per (service, minute): minutes from the batch's first, times the table size
    groups = (minutes - minutes.min()) * (len(columns.strings) + 1) + services
    _, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    order = np.argsort(inverse, kind="stable")  # rows of each group, in span order
    bounds = np.concatenate(([0], np.cumsum(np.bincount(inverse))))
    durations = columns.duration_ns
    for group in np.argsort(first, kind="stable"):  # groups in order of first appearance
        members = rows[order[bounds[group] : bounds[group + 1]]]
        service = spans[int(rows[first[group]])].resource.service_name
        minute = int(minutes[first[group]])
        errors: int | None = None
        for objective in objectives_of(service, members.size):
            if objective.latency_metric or objective.kind == SLIKind.RATIO:
                continue
            if objective.operation is not None:
                ops = columns.operations(spans)  # an entry span's operation is route_of
                chosen = [
                    spans[r]
                    for r in members.tolist()
                    if matches_operation(objective, spans[r], ops.names[ops.ids[r]])
                ]
                if chosen:
                    good = sum(_good(objective, span) for span in chosen)
                    add(objective.name, minute, good, len(chosen))
                continue
            if objective.kind == SLIKind.LATENCY:
                assert objective.threshold_s is not None
                within = durations[members] <= objective.threshold_s * 1e9
                good = int(np.count_nonzero(within))
            elif objective.kind == SLIKind.AVAILABILITY:
                if errors is None:
                    errors = int(np.count_nonzero(columns.errors(spans)[members]))
                good = members.size - errors
            else:  # throughput: every request counts; the minute is judged when it closes
                good = members.size
            add(objective.name, minute, good, members.size)


def _good(objective: Objective, span: SpanRecord) -> bool:
    if objective.kind == SLIKind.LATENCY:
        assert objective.threshold_s is not None
        return span.end_ns - span.start_ns <= objective.threshold_s * 1e9
    if objective.kind == SLIKind.AVAILABILITY:
        return not is_error(span)
    return True  # throughput: every request counts; the minute is judged when it closes


def histogram_events(
    point: MetricPoint, threshold_s: float, unit_scale: float
) -> tuple[float, float]:
    """(good, total) of a latency histogram point; ``unit_scale`` converts seconds to its unit."""
    threshold = threshold_s * unit_scale
    if point.type == MetricType.HISTOGRAM:
        good = explicit_at_or_below(
            point.bounds, point.bucket_counts, threshold, point.min, point.max
        )
        return good, float(point.count)
    hist = exponential(point)
    if hist is None:
        return 0.0, 0.0
    return hist.count_at_or_below(threshold), float(hist.count)


__all__ = [
    "MetricStreams",
    "explicit_at_or_below",
    "exponential",
    "histogram_events",
    "span_events",
    "unit_scale",
]
