"""A closed window's aggregates into findings (and their magnitudes, for deduplication)."""

from __future__ import annotations

from collections.abc import Iterator

from otel_perf.findings import Finding, Kind, Severity
from otel_perf.processors.bottlenecks.aggregate import NS, OpKey, Window
from otel_perf.processors.bottlenecks.config import BottlenecksConfig

Found = tuple[Finding, float]  # a finding and its magnitude
MAX_SUBJECT = 200


def evaluate(window: Window, config: BottlenecksConfig, now_ns: int, source: str) -> list[Found]:
    """Every finding the window supports, each with the size used to deduplicate it."""
    return [
        *bottlenecks(window, config, now_ns, source),
        *slow_queries(window, config, now_ns, source),
        *patterns(window, now_ns, source),
        *slow_requests(window, now_ns, source),
    ]


def _ms(ns: float) -> float:
    return round(ns / 1e6, 3)


def bottlenecks(
    window: Window, config: BottlenecksConfig, now: int, source: str
) -> Iterator[Found]:
    """The largest share of each entry operation's critical path, when it is large enough."""
    for (service, route), entry in window.entries.items():
        if entry.traces < config.min_traces or not entry.total_ns or not entry.shares:
            continue
        (op_service, operation), ns = max(entry.shares.items(), key=lambda kv: (kv[1], kv[0]))
        share = ns / entry.total_ns
        if share < config.min_share:
            continue
        stats = window.ops.get((op_service, operation))
        p95 = entry.latency_s.quantile(0.95)
        finding = Finding(
            kind=Kind.BOTTLENECK_IDENTIFIED,
            severity=Severity.WARNING if share >= 0.5 else Severity.INFO,
            service=op_service,
            subject=f"{operation} in {service} {route}"[:MAX_SUBJECT],
            time_ns=now,
            summary=f"{op_service} {operation} is {share:.0%} of the critical path of "
            f"{service} {route} (p95 {p95 * 1000:.0f} ms over {entry.traces} traces)",
            attributes={
                "operation": operation,
                "share": round(share, 4),
                "entry_service": service,
                "entry_operation": route,
                "entry_p95_ms": round(p95 * 1000, 3),
                "critical_path_ms_per_trace": _ms(ns / entry.traces),
                "traces": entry.traces,
            },
            evidence={"trace_ids": (stats or entry).exemplars.ids()},
            source=source,
        )
        yield finding, share


def slow_queries(
    window: Window, config: BottlenecksConfig, now: int, source: str
) -> Iterator[Found]:
    threshold = config.slow_query_p95
    for (service, fid), stats in window.queries.items():
        hist = stats.latency_s
        if hist.count < config.slow_query_min_count:
            continue
        p50, p95 = hist.quantiles([0.5, 0.95])
        if p95 < threshold:
            continue
        finding = Finding(
            kind=Kind.SLOW_QUERY,
            severity=Severity.CRITICAL if p95 >= 4 * threshold else Severity.WARNING,
            service=service,
            subject=stats.fingerprint[:MAX_SUBJECT],
            time_ns=now,
            summary=f"{stats.db_system or 'db'} query p95 {p95 * 1000:.0f} ms over "
            f"{hist.count} runs: {stats.fingerprint[:120]}",
            attributes={
                "fingerprint_id": fid,
                "fingerprint": stats.fingerprint,
                "db_system": stats.db_system,
                "db_operation": stats.operation,
                "count": hist.count,
                "p50_ms": round(p50 * 1000, 3),
                "p95_ms": round(p95 * 1000, 3),
                "threshold_ms": round(threshold * 1000, 3),
            },
            evidence={"trace_ids": stats.exemplars.ids()},
            source=source,
        )
        yield finding, p95


def patterns(window: Window, now: int, source: str) -> Iterator[Found]:
    for (kind, service, operation, fingerprint), stats in window.patterns.items():
        batchable = kind != "consecutive"
        mean_saveable = stats.saveable_ns / stats.occurrences
        what = f"{stats.max_calls} repeated calls" if batchable else "independent calls in sequence"
        finding = Finding(
            kind=Kind.N_PLUS_ONE if batchable else Kind.RECOMMENDATION,
            severity=Severity.WARNING if batchable else Severity.INFO,
            service=service,
            subject=f"{operation}: {fingerprint}"[:MAX_SUBJECT],
            time_ns=now,
            summary=f"{operation} makes {what} ({kind.replace('_', ' ')}) in "
            f"{stats.occurrences} traces; "
            + ("batching" if batchable else "running them in parallel")
            + f" would save ~{_ms(mean_saveable):.0f} ms each",
            attributes={
                "pattern": kind,
                "parent_operation": operation,
                "fingerprint": fingerprint,
                "occurrences": stats.occurrences,
                "mean_calls": round(stats.calls / stats.occurrences, 2),
                "max_calls": stats.max_calls,
                "saveable_ms_per_trace": _ms(mean_saveable),
                "total_ms_per_trace": _ms(stats.total_ns / stats.occurrences),
            },
            evidence={"trace_ids": stats.exemplars.ids()},
            source=source,
        )
        yield finding, mean_saveable


def slow_requests(window: Window, now: int, source: str) -> Iterator[Found]:
    for (service, route), stats in window.slow.items():
        if not stats.slow:
            continue
        ratio = stats.slow / stats.requests
        finding = Finding(
            kind=Kind.SLOW_REQUEST,
            severity=Severity.WARNING,
            service=service,
            subject=route[:MAX_SUBJECT],
            time_ns=now,
            summary=f"{stats.slow} of {stats.requests} {route} requests took over "
            f"{stats.threshold_ns / 1e6:.0f} ms (slowest {_ms(stats.worst_ns):.0f} ms)",
            attributes={
                "slow": stats.slow,
                "requests": stats.requests,
                "slow_ratio": round(ratio, 4),
                "threshold_ms": _ms(stats.threshold_ns),
                "worst_ms": _ms(stats.worst_ns),
                "critical_path": stats.worst_path,
            },
            evidence={"trace_ids": stats.exemplars.ids()},
            source=source,
        )
        yield finding, ratio


def ranking(windows: list[Window], limit: int = 50) -> list[dict[str, object]]:
    """Operations by their share of all critical-path time in ``windows`` (the bottleneck list)."""
    total = sum(w.critical_total_ns for w in windows) or 1
    merged: dict[OpKey, list[int]] = {}
    exemplars: dict[OpKey, list[str]] = {}
    for window in windows:
        for key, stats in window.ops.items():
            row = merged.setdefault(key, [0, 0, 0])
            row[0] += stats.critical_ns
            row[1] += stats.self_ns
            row[2] += stats.traces
            exemplars.setdefault(key, []).extend(stats.exemplars.ids())
    ordered = sorted(merged.items(), key=lambda kv: (-kv[1][0], kv[0]))[:limit]
    return [
        {
            "service": service,
            "operation": operation,
            "critical_path_share": round(critical / total, 4),
            "critical_path_ms": _ms(critical),
            "self_time_ms": _ms(self_ns),
            "traces": traces,
            "exemplar_trace_ids": exemplars[(service, operation)][:3],
        }
        for (service, operation), (critical, self_ns, traces) in ordered
        if critical > 0
    ]


def seconds(ns: int) -> float:
    return ns / NS
