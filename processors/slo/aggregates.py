"""SLI events from series intervals merged from trace-tier aggregates (the analysis tier).

A series' interval counts as its spans would have: a request series (server or consumer
kind) matching an objective's operation (the span name, its route, or ``method route``
from the series' dims) adds ``calls`` events; good ones are the calls without error
(availability), within the threshold (latency: the exact ``within`` count when the trace
tier's span metrics were given that threshold in ``latency_thresholds``, else the
histogram's count, interpolated inside one bucket) or all (throughput). An interval's
spans all end in one minute (intervals divide a minute), so minutes match span counting.
"""

from __future__ import annotations

from collections.abc import Callable

from otel_perf.processors.slo.objective import Objective, SLIKind
from otel_perf.processors.slo.sources import MINUTE_NS, REQUEST_KINDS, Add
from otel_perf.semconv import route_of
from otel_perf.series import RED, SeriesInterval, SeriesKey


def interval_events(
    interval: SeriesInterval, objectives_of: Callable[[str], list[Objective]], add: Add
) -> None:
    """Count each request series of ``interval`` against its service's span objectives."""
    minute = interval.start_ns // MINUTE_NS
    sums: dict[str, list[float]] = {}
    for key, red in interval.values.items():
        if key.span_kind not in REQUEST_KINDS or key.is_overflow or not red.calls:
            continue
        for objective in objectives_of(key.service):
            if objective.latency_metric or objective.kind == SLIKind.RATIO:
                continue
            if not matches(objective, key):
                continue
            cell = sums.setdefault(objective.name, [0.0, 0.0])
            cell[0] += good(objective, red)
            cell[1] += red.calls
    for name, (good_events, total) in sums.items():
        add(name, minute, good_events, total)


def matches(objective: Objective, key: SeriesKey) -> bool:
    op = objective.operation
    if op is None or op == key.operation:
        return True
    dims = dict(key.dims)
    return op == route_of(dims, key.operation) or op == dims.get("http.route")


def good(objective: Objective, red: RED) -> float:
    if objective.kind == SLIKind.LATENCY:
        assert objective.threshold_s is not None
        exact = red.within.get(objective.threshold_s)
        if exact is not None:
            return float(exact)
        return red.duration_s.count_at_or_below(objective.threshold_s)
    if objective.kind == SLIKind.AVAILABILITY:
        return float(red.calls - red.errors)
    return float(red.calls)
