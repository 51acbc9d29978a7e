"""The bottleneck ranking from summed windows: the same formula as one instance's."""

from __future__ import annotations

from otel_perf.processors.aggregates.intake import WindowPart

LIMIT = 50


def ranking(windows: list[WindowPart], limit: int = LIMIT) -> list[dict[str, object]]:
    """Operations by their share of all critical-path time in ``windows``; ties by name,
    as :func:`otel_perf.processors.bottlenecks.evaluate.ranking` orders them."""
    total = sum(w.critical_total_ns for w in windows) or 1
    merged: dict[tuple[str, str], list[int]] = {}
    for window in windows:
        for key, (critical, self_ns, traces) in window.operations.items():
            row = merged.setdefault(key, [0, 0, 0])
            row[0] += critical
            row[1] += self_ns
            row[2] += traces
    ordered = sorted(merged.items(), key=lambda kv: (-kv[1][0], kv[0]))[:limit]
    return [
        {
            "service": service,
            "operation": operation,
            "critical_path_share": round(critical / total, 4),
            "critical_path_ms": round(critical / 1e6, 3),
            "self_time_ms": round(self_ns / 1e6, 3),
            "traces": traces,
        }
        for (service, operation), (critical, self_ns, traces) in ordered
        if critical > 0
    ]
