"""Read-only views of window aggregates for the API: queries, patterns, slow requests,
checkpoint phases and memory."""

from __future__ import annotations

from typing import Any

from otel_perf.histogram import ExponentialHistogram
from otel_perf.processors.bottlenecks.aggregate import Window

LIMIT = 100
QUERY_LIST_MIN_MS = 10.0
"""Queries faster than this at p95 are not listed as slow queries (a 0.03-ms INSERT is not)."""


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
            "operation": stats.call_operation,
            "routes": _route_rows(stats.routes),
            "count": hist.count,
            "p50_ms": _q_ms(hist, 0.5),
            "p95_ms": _q_ms(hist, 0.95),
            "exemplar_trace_ids": ids[:3],
        }
        for (service, fid), (stats, hist, ids) in merged.items()
        if (_q_ms(hist, 0.95) or 0) >= QUERY_LIST_MIN_MS
    ]
    return sorted(rows, key=lambda r: -(r["p95_ms"] or 0))[:LIMIT]


def _route_rows(routes: dict[tuple[str, str], int]) -> list[dict[str, Any]]:
    total = sum(routes.values()) or 1
    ranked = sorted(routes.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    return [{"service": s, "route": r, "share": round(n / total, 4)} for (s, r), n in ranked]


def patterns(windows: list[Window]) -> list[dict[str, Any]]:
    """One row per pattern over ``windows`` (the same N+1 in two windows is one row)."""
    merged: dict[tuple[str, str, str, str], list[Any]] = {}
    for window in windows:
        for key, stats in window.patterns.items():
            row = merged.setdefault(key, [0, 0, 0, [], {}])
            row[0] += stats.occurrences
            row[1] = max(row[1], stats.max_calls)
            row[2] += stats.saveable_ns
            row[3] = stats.exemplars.ids() + row[3]
            for route, n in stats.routes.items():
                row[4][route] = row[4].get(route, 0) + n
    rows: list[dict[str, Any]] = [
        {
            "pattern": kind,
            "service": service,
            "parent_operation": operation,
            "fingerprint": fingerprint,
            "occurrences": occurrences,
            "max_calls": max_calls,
            "saveable_ms_per_trace": round(saveable / occurrences / 1e6, 3),
            "saving_unit": "db_time" if kind == "concurrent_repeat" else "latency",
            "routes": _route_rows(routes),
            "exemplar_trace_ids": ids[:3],
        }
        for (kind, service, operation, fingerprint), (
            occurrences,
            max_calls,
            saveable,
            ids,
            routes,
        ) in merged.items()
    ]
    return sorted(rows, key=lambda r: -float(r["saveable_ms_per_trace"]))[:LIMIT]


def slow_requests(windows: list[Window]) -> list[dict[str, Any]]:
    """One row per route over ``windows``: counts summed, the slowest request's path."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for window in windows:
        for (service, route), stats in window.slow.items():
            if not stats.slow:
                continue
            row = merged.setdefault(
                (service, route),
                {"service": service, "route": route, "slow": 0, "requests": 0, "worst_ms": 0.0},
            )
            row["slow"] += stats.slow
            row["requests"] += stats.requests
            row["threshold_ms"] = stats.threshold_ns / 1e6
            if stats.worst_ns / 1e6 >= row["worst_ms"]:
                row["worst_ms"] = round(stats.worst_ns / 1e6, 3)
                row["critical_path"] = stats.worst_path
                row["exemplar_trace_ids"] = stats.exemplars.ids()
    rows = list(merged.values())
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
