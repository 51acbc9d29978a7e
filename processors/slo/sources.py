"""SLIs from telemetry: good and total events per objective per minute.

From spans the counts are exact: every server (or consumer) span is one event,
good when it did not fail (availability) or finished within the threshold
(latency). From received metrics — explicit-bucket or exponential histograms,
counters — they come from the aggregates: a latency threshold between bucket
bounds is interpolated (log-linearly in exponential buckets, linearly in
explicit ones), cumulative streams are turned into deltas.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from otel_perf.metricmath import MetricStreams, explicit_at_or_below, exponential, unit_scale
from otel_perf.model import MetricPoint, MetricType, SpanKind, SpanRecord
from otel_perf.processors.slo.objective import Objective, SLIKind
from otel_perf.processors.spanmetrics.keys import is_error
from otel_perf.semconv import route_of

MINUTE_NS = 60_000_000_000
REQUEST_KINDS = frozenset({SpanKind.SERVER, SpanKind.CONSUMER})
Add = Callable[[str, int, float, float], None]  # objective name, minute, good, total


def matches_operation(objective: Objective, span: SpanRecord) -> bool:
    op = objective.operation
    return (
        op is None
        or op == span.name
        or op == route_of(span.attributes, span.name)
        or (op == span.attributes.get("http.route"))
    )


def span_events(
    spans: Iterable[SpanRecord], objectives_of: Callable[[str], list[Objective]], add: Add
) -> None:
    """Count each request span against the span-sourced objectives of its service."""
    sums: dict[tuple[str, int], list[float]] = {}
    for span in spans:
        if span.kind not in REQUEST_KINDS:
            continue
        minute = span.end_ns // MINUTE_NS
        for objective in objectives_of(span.resource.service_name):
            if objective.latency_metric or objective.kind == SLIKind.RATIO:
                continue
            if objective.operation is not None and not matches_operation(objective, span):
                continue
            key = (objective.name, minute)
            cell = sums.get(key)
            if cell is None:
                cell = sums[key] = [0.0, 0.0]
            cell[0] += _good(objective, span)
            cell[1] += 1
    for (name, minute), (good, total) in sums.items():
        add(name, minute, good, total)


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
