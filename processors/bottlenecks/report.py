"""Read-only views of window aggregates for the API: queries, patterns, slow requests,
checkpoint phases and memory."""

from __future__ import annotations

from typing import Any

from otel_perf.histogram import ExponentialHistogram
from otel_perf.processors.bottlenecks.aggregate import Window

LIMIT = 100


def report(windows: list[Window]) -> dict[str, Any]:
    return {
        "slow_queries": queries(windows),
        "patterns": patterns(windows),
        "slow_requests": slow_requests(windows),
        "phases": phases(windows),
        "memory": memory(windows),
    }


def _q_ms(hist: ExponentialHistogram, q: float) -> float | None:
    return None if hist.is_empty else round(hist.quantile(q) * 1000, 3)


def queries(windows: list[Window]) -> list[dict[str, Any]]:
    merged: dict[tuple[str, str], tuple[Any, ExponentialHistogram, list[str]]] = {}
    for window in windows:
        for key, stats in window.queries.items():
            if key not in merged:
                merged[key] = (stats, ExponentialHistogram(), [])
            merged[key][1].merge(stats.latency_s)
            merged[key][2].extend(stats.exemplars.ids())
    rows = [
        {
            "service": service,
            "fingerprint_id": fid,
            "fingerprint": stats.fingerprint,
            "db_system": stats.db_system,
            "count": hist.count,
            "p50_ms": _q_ms(hist, 0.5),
            "p95_ms": _q_ms(hist, 0.95),
            "exemplar_trace_ids": ids[:3],
        }
        for (service, fid), (stats, hist, ids) in merged.items()
    ]
    return sorted(rows, key=lambda r: -(r["p95_ms"] or 0))[:LIMIT]


def patterns(windows: list[Window]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {
            "pattern": kind,
            "service": service,
            "parent_operation": operation,
            "fingerprint": fingerprint,
            "occurrences": stats.occurrences,
            "max_calls": stats.max_calls,
            "saveable_ms_per_trace": round(stats.saveable_ns / stats.occurrences / 1e6, 3),
            "exemplar_trace_ids": stats.exemplars.ids(),
        }
        for window in windows
        for (kind, service, operation, fingerprint), stats in window.patterns.items()
    ]
    return sorted(rows, key=lambda r: -float(r["saveable_ms_per_trace"]))[:LIMIT]


def slow_requests(windows: list[Window]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {
            "service": service,
            "route": route,
            "slow": stats.slow,
            "requests": stats.requests,
            "threshold_ms": stats.threshold_ns / 1e6,
            "worst_ms": round(stats.worst_ns / 1e6, 3),
            "critical_path": stats.worst_path,
            "exemplar_trace_ids": stats.exemplars.ids(),
        }
        for window in windows
        for (service, route), stats in window.slow.items()
        if stats.slow
    ]
    return sorted(rows, key=lambda r: -float(r["worst_ms"]))[:LIMIT]


def phases(windows: list[Window]) -> list[dict[str, Any]]:
    merged: dict[tuple[str, str, str], ExponentialHistogram] = {}
    for window in windows:
        for key, hist in window.phases.items():
            merged.setdefault(key, ExponentialHistogram()).merge(hist)
    return [
        {
            "service": service,
            "route": route,
            "phase": phase,
            "count": hist.count,
            "p50_ms": _q_ms(hist, 0.5),
            "p95_ms": _q_ms(hist, 0.95),
        }
        for (service, route, phase), hist in sorted(merged.items())[: LIMIT * 4]
    ]


def memory(windows: list[Window]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for window in windows:
        for (service, route), stats in window.memory.items():
            hist = stats.growth_bytes
            rows.append(
                {
                    "service": service,
                    "route": route,
                    "requests": stats.requests,
                    "grew": stats.grew,
                    "mean_delta_bytes": round(stats.total_bytes / stats.requests, 1),
                    "max_delta_bytes": stats.max_bytes,
                    "p95_growth_bytes": None if hist.is_empty else round(hist.quantile(0.95)),
                }
            )
    return sorted(rows, key=lambda r: -float(r["mean_delta_bytes"]))[:LIMIT]
