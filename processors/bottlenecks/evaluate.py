"""A closed window's aggregates into findings (and their magnitudes, for deduplication).

Every kind has an absolute floor beside its share, is judged against its own history
and its audience (``judge.py``), never names an entry as its own bottleneck, states
savings in their unit, and carries evidence from its own subject.
"""

from __future__ import annotations

from collections.abc import Iterator

from otel_perf.findings import Finding, Kind, Severity
from otel_perf.processors.bottlenecks.advice import advise
from otel_perf.processors.bottlenecks.aggregate import NS, EntryStats, OpKey
from otel_perf.processors.bottlenecks.judge import MAX_SUBJECT as MAX_SUBJECT  # re-exported
from otel_perf.processors.bottlenecks.judge import Change, Judge, traffic_share

Cost = tuple[float, float]  # what it cost users in the window: (ms, requests it touched)
Found = tuple[Finding, float, Cost | None]  # a finding, its magnitude and its cost
MAX_ROUTES_SHOWN = 5


def evaluate(judge: Judge, now_ns: int, source: str) -> list[Found]:
    """Every finding the window supports, each with the size used to deduplicate it."""
    return [
        *bottlenecks(judge, now_ns, source),
        *slow_queries(judge, now_ns, source),
        *patterns(judge, now_ns, source),
        *slow_requests(judge, now_ns, source),
    ]


def _ms(ns: float) -> float:
    return round(ns / 1e6, 3)


def _contributor(route: OpKey, entry: EntryStats) -> tuple[OpKey, int] | None:
    """The largest share of an entry's critical path that is not the entry itself."""
    others = [(op, ns) for op, ns in entry.shares.items() if op != route]
    return max(others, key=lambda kv: (kv[1], kv[0])) if others else None


def bottlenecks(judge: Judge, now: int, source: str) -> Iterator[Found]:
    """The largest share of each entry operation's critical path, when it is worth a look."""
    config = judge.config
    for route, entry in judge.window.entries.items():
        if entry.traces < config.min_traces or not entry.total_ns:
            continue
        found = _contributor(route, entry)
        if found is None:
            continue
        (op_service, operation), ns = found
        subject = f"{operation} in {route[0]} {route[1]}"
        bar = judge.bar(Kind.BOTTLENECK_IDENTIFIED, op_service, subject)
        share, per_request = ns / entry.total_ns, ns / entry.traces / NS
        if share < config.min_share * bar or per_request < config.min_saveable * bar:
            continue
        change = judge.change(
            ("cell", route, (op_service, operation)), per_request, config.min_saveable, bar
        )
        audience = judge.audience({route: 1})
        traffic = traffic_share(*audience)
        absolute = per_request >= config.bottleneck_without_baseline * bar
        p95 = entry.latency_s.quantile(0.95)
        severity = judge.grade(change, audience, bar, absolute)
        if share < 0.5 * bar:
            severity = Severity.INFO
        severity = judge.escalate(
            severity,
            Kind.BOTTLENECK_IDENTIFIED,
            op_service,
            subject,
            audience,
            per_request,
            {route: 1},
        )
        yield (
            Finding(
                kind=Kind.BOTTLENECK_IDENTIFIED,
                severity=severity,
                service=op_service,
                subject=subject[:MAX_SUBJECT],
                time_ns=now,
                summary=f"{op_service} {operation} is {share:.0%} of the critical path of "
                f"{route[0]} {route[1]} ({per_request * 1000:.0f} ms per request, p95 "
                f"{p95 * 1000:.0f} ms over {entry.traces} traces, {traffic:.0%} of traffic; "
                f"{change.value})",
                attributes={
                    "operation": operation,
                    "share": round(share, 4),
                    "entry_service": route[0],
                    "entry_operation": route[1],
                    "entry_p95_ms": round(p95 * 1000, 3),
                    "critical_path_ms_per_trace": round(per_request * 1000, 3),
                    "traces": entry.traces,
                    "traffic_share": round(traffic, 4),
                    "change": change.value,
                    **_baseline(judge, ("cell", route, (op_service, operation))),
                },
                evidence={"trace_ids": entry.cells[(op_service, operation)].ids()},
                source=source,
            ),
            share,
            (ns / 1e6, entry.traces),
        )


def _baseline(judge: Judge, key: object) -> dict[str, float]:
    normal = judge.baselines.expected(key)
    return {} if normal is None else {"baseline_ms": round(normal * 1000, 3)}


def _routes(judge: Judge, routes: dict[OpKey, int]) -> list[dict[str, object]]:
    total = sum(routes.values()) or 1
    ranked = sorted(routes.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_ROUTES_SHOWN]
    return [{"service": s, "route": r, "share": round(n / total, 4)} for (s, r), n in ranked]


def _budget_share(judge: Judge, routes: dict[OpKey, int], seconds: float) -> float | None:
    """What the query takes of the median latency of the route that runs it most."""
    if not routes:
        return None
    top = max(routes.items(), key=lambda kv: (kv[1], kv[0]))[0]
    entry = judge.window.entries.get(top)
    if entry is None or not entry.traces:
        return None
    median = entry.latency_s.quantile(0.5)
    return round(min(seconds / median, 1.0), 4) if median > 0 else None


def slow_queries(judge: Judge, now: int, source: str) -> Iterator[Found]:
    """Queries slower than their own baseline (or, without one, than ``slow_query_p95``)."""
    config, window = judge.config, judge.window
    for (service, fid), stats in window.queries.items():
        hist = stats.latency_s
        if hist.count < config.slow_query_min_count:
            continue
        subject = stats.fingerprint
        bar = judge.bar(Kind.SLOW_QUERY, service, subject)
        p50, p95 = hist.quantiles([0.5, 0.95])
        runs = sum(window.entries[r].traces for r in stats.routes if r in window.entries) or 1
        per_request = hist.count / runs  # executions per request of the routes running it
        normal = judge.baselines.expected(("query", (service, fid)))
        excess = (p50 - (normal or 0.0)) * per_request
        change = judge.change(
            ("query", (service, fid)), p50, config.min_saveable / per_request, bar
        )
        absolute = p95 >= config.slow_query_p95 * bar
        if change != Change.REGRESSED and not absolute:
            continue
        if change == Change.REGRESSED and excess < config.min_saveable * bar:
            continue
        audience = judge.audience(stats.routes)
        traffic = traffic_share(*audience)
        severity = judge.grade(change, audience, bar, absolute)
        saveable = excess if normal else p50 * per_request
        severity = judge.escalate(
            severity, Kind.SLOW_QUERY, service, subject, audience, saveable, stats.routes
        )
        cause, advice = advise(stats.fingerprint)
        was = f", {p50 / normal:.0f}× its usual {normal * 1000:.0f} ms" if normal else ""
        yield (
            Finding(
                kind=Kind.SLOW_QUERY,
                severity=severity,
                service=service,
                subject=subject[:MAX_SUBJECT],
                time_ns=now,
                summary=f"{stats.db_system or 'db'} query p50 {p50 * 1000:.0f} ms{was} "
                f"(p95 {p95 * 1000:.0f} ms over {hist.count} runs, {traffic:.0%} of traffic): "
                f"{stats.fingerprint[:120]}",
                attributes={
                    "fingerprint_id": fid,
                    "fingerprint": stats.fingerprint,
                    "operation": stats.call_operation,
                    "db_system": stats.db_system,
                    "db_operation": stats.operation,
                    "count": hist.count,
                    "p50_ms": round(p50 * 1000, 3),
                    "p95_ms": round(p95 * 1000, 3),
                    "threshold_ms": round(config.slow_query_p95 * 1000, 3),
                    "change": change.value,
                    "traffic_share": round(traffic, 4),
                    "saveable_ms_per_request": round(max(excess, 0.0) * 1000, 3),
                    "share_of_route_latency": _budget_share(judge, stats.routes, p50 * per_request),
                    "routes": _routes(judge, stats.routes),
                    "cause": cause,
                    "advice": advice,
                    **_baseline(judge, ("query", (service, fid))),
                },
                evidence={"trace_ids": stats.exemplars.ids()},
                source=source,
            ),
            p95,
            (hist.count * p50 * 1000, runs),
        )


def patterns(judge: Judge, now: int, source: str) -> Iterator[Found]:
    """Repeated calls (latency to save), concurrent repeats (DB work), serial calls."""
    config, window = judge.config, judge.window
    minutes = max(config.evaluation_interval / 60, 1e-9)
    for (kind, service, operation, fingerprint), stats in window.patterns.items():
        batchable = kind != "consecutive"
        concurrent = kind == "concurrent_repeat"
        finding_kind = Kind.N_PLUS_ONE if batchable else Kind.RECOMMENDATION
        subject = f"{operation}: {fingerprint}"
        bar = judge.bar(finding_kind, service, subject)
        mean_saveable = stats.saveable_ns / stats.occurrences
        mean_total = stats.total_ns / stats.occurrences
        floor = config.n_plus_one_min_total if batchable else config.parallel_min_saveable
        if (mean_total if batchable else mean_saveable) < floor * NS * bar:
            continue
        audience = judge.audience(stats.routes)
        traffic = traffic_share(*audience)
        severity = Severity.INFO
        if batchable and not concurrent:
            severity = judge.grade(Change.STRUCTURAL, audience, bar, True)
            severity = judge.escalate(
                severity, finding_kind, service, subject, audience, mean_saveable / NS, stats.routes
            )
        what = f"{stats.max_calls} repeated calls" if batchable else "independent calls in sequence"
        if concurrent:  # they run at once: batching saves the database's work, not latency
            saving = (
                f"batching would save ~{_ms(mean_saveable):.0f} ms of database time each "
                f"(~{_ms(stats.saveable_ns / minutes) / 1000:.1f} s per minute), not latency"
            )
        else:
            how = "batching" if batchable else "running them in parallel"
            saving = f"{how} would save ~{_ms(mean_saveable):.0f} ms per request"
        unit = "db_time" if concurrent else "latency"
        yield (
            Finding(
                kind=finding_kind,
                severity=severity,
                service=service,
                subject=subject[:MAX_SUBJECT],
                time_ns=now,
                summary=f"{operation} makes {what} ({kind.replace('_', ' ')}) in "
                f"{stats.occurrences} traces ({traffic:.0%} of traffic); {saving}",
                attributes={
                    "pattern": kind,
                    "parent_operation": operation,
                    "operation": stats.call_operation,
                    "fingerprint": fingerprint,
                    "occurrences": stats.occurrences,
                    "mean_calls": round(stats.calls / stats.occurrences, 2),
                    "max_calls": stats.max_calls,
                    # latency a request would gain: none when the calls already overlap
                    "saveable_ms_per_trace": 0.0 if concurrent else _ms(mean_saveable),
                    "saving_unit": unit,
                    f"saveable_{unit}_ms_per_trace": _ms(mean_saveable),
                    f"saveable_{unit}_ms_per_min": _ms(stats.saveable_ns / minutes),
                    "total_ms_per_trace": _ms(mean_total),
                    "traffic_share": round(traffic, 4),
                    "routes": _routes(judge, stats.routes),
                    "advice": _pattern_advice(kind),
                },
                evidence={"trace_ids": stats.exemplars.ids()},
                source=source,
            ),
            mean_saveable,
            # users' time: what batching saves in each trace (none when the calls overlap)
            (0.0 if concurrent else stats.saveable_ns / 1e6, stats.occurrences),
        )


def _pattern_advice(kind: str) -> str:
    if kind == "n_plus_one":
        return "load the rows in one query (a join, IN (…), or the ORM's eager loading)"
    if kind == "concurrent_repeat":
        return "the calls already run concurrently: fetch once and share, or batch (saves DB load)"
    return "run the independent calls concurrently"


def slow_requests(judge: Judge, now: int, source: str) -> Iterator[Found]:
    """Requests over the slow threshold on routes people use (rare staff routes: info)."""
    config, window = judge.config, judge.window
    served: dict[str, int] = {}
    for (service, _), stats in window.slow.items():
        served[service] = served.get(service, 0) + stats.requests
    for (service, route), stats in window.slow.items():
        if not stats.slow:
            continue
        ratio = stats.slow / stats.requests
        audience = (stats.requests, served[service])
        traffic = traffic_share(*audience)
        bar = judge.bar(Kind.SLOW_REQUEST, service, route)
        p95 = stats.latency_s.quantile(0.95)
        change = judge.change(("route", (service, route)), p95, config.min_saveable, bar)
        severity = judge.grade(change, audience, bar, ratio >= 0.01 * bar)
        yield (
            Finding(
                kind=Kind.SLOW_REQUEST,
                severity=severity,
                service=service,
                subject=route[:MAX_SUBJECT],
                time_ns=now,
                summary=f"{stats.slow} of {stats.requests} {route} requests took over "
                f"{stats.threshold_ns / 1e6:.0f} ms (slowest {_ms(stats.worst_ns):.0f} ms; "
                f"{traffic:.0%} of {service}'s requests; {change.value})",
                attributes={
                    "slow": stats.slow,
                    "requests": stats.requests,
                    "slow_ratio": round(ratio, 4),
                    "threshold_ms": _ms(stats.threshold_ns),
                    "worst_ms": _ms(stats.worst_ns),
                    "p95_ms": round(p95 * 1000, 3),
                    "traffic_share": round(traffic, 4),
                    "change": change.value,
                    "critical_path": stats.worst_path,
                    **_baseline(judge, ("route", (service, route))),
                },
                evidence={"trace_ids": stats.exemplars.ids()},
                source=source,
            ),
            ratio,
            None,
        )


def seconds(ns: int) -> float:
    return ns / NS
