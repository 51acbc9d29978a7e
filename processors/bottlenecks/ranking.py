"""The bottleneck ranking: operations by the time users lose to them, not by raw time.

An operation's score is its critical-path time in each entry, less what its baseline
says is normal there (an operation that always took that long is expected), weighted by
the entry's audience (``min(1, traffic share / hot_route_share)``: a staff-only export
counts for little), plus the time batching its repeated calls would save on the routes
that make them. Rows keep the raw figures (share, critical-path and self time) beside
the score.
"""

from __future__ import annotations

from otel_perf.processors.bottlenecks.aggregate import NS, OpKey, Window
from otel_perf.processors.bottlenecks.baseline import Baselines


def _weight(window: Window, routes: dict[OpKey, int] | list[OpKey], hot_share: float) -> float:
    if not window.traces:
        return 0.0
    share = sum(window.entries[r].traces for r in routes if r in window.entries) / window.traces
    return 1.0 if hot_share <= 0 else min(1.0, share / hot_share)


def scores(window: Window, baselines: Baselines, hot_share: float) -> dict[OpKey, float]:
    """ns of avoidable critical-path time per operation in one window."""
    out: dict[OpKey, float] = {}
    for route, entry in window.entries.items():
        weight = _weight(window, [route], hot_share)
        for op, ns in entry.shares.items():
            if op == route:
                continue  # an entry's own code is not a bottleneck of itself
            normal = baselines.expected(("cell", route, op))
            excess = ns - (normal * NS * entry.traces if normal is not None else 0.0)
            out[op] = out.get(op, 0.0) + max(excess, 0.0) * weight
    for (kind, service, _, _), stats in window.patterns.items():
        if kind == "n_plus_one":
            op = (service, stats.call_operation)
            out[op] = out.get(op, 0.0) + stats.saveable_ns * _weight(
                window, stats.routes, hot_share
            )
    return out


def ranking(
    windows: list[Window], baselines: Baselines, hot_share: float, limit: int = 50
) -> list[dict[str, object]]:
    """Operations by avoidable time in ``windows``, then by their critical-path time."""
    total = sum(w.critical_total_ns for w in windows) or 1
    merged: dict[OpKey, list[float]] = {}
    exemplars: dict[OpKey, list[str]] = {}
    for window in windows:
        for key, stats in window.ops.items():
            row = merged.setdefault(key, [0.0, 0, 0, 0])
            row[1] += stats.critical_ns
            row[2] += stats.self_ns
            row[3] += stats.traces
            exemplars.setdefault(key, []).extend(stats.exemplars.ids())
        for key, score in scores(window, baselines, hot_share).items():
            if key in merged:
                merged[key][0] += score
    ordered = sorted(merged.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))[:limit]
    return [
        {
            "service": service,
            "operation": operation,
            "avoidable_ms": round(score / 1e6, 3),
            "critical_path_share": round(critical / total, 4),
            "critical_path_ms": round(critical / 1e6, 3),
            "self_time_ms": round(self_ns / 1e6, 3),
            "traces": int(traces),
            "exemplar_trace_ids": exemplars[(service, operation)][:3],
        }
        for (service, operation), (score, critical, self_ns, traces) in ordered
        if critical > 0
    ]
