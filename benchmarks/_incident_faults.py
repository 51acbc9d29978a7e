"""Seeded faults as the findings the processors raise for them, for the incidents
processor's tests and benchmark.

Each fault is injected at ``t0`` and yields the findings the real processors raise about
it, with their attributes as those processors write them (bottlenecks: slow_query with its
``routes``, slow_request with its ``critical_path``; anomaly with ``series`` and
``start_ns``; regression with ``operation`` and versions; slo burn with ``since_ns``;
capacity with ``resource``). Detection lags are drawn from the seeded ``rng``, so a
symptom is sometimes reported before its cause — the order in which findings arrive is
not the order of causation.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, replace

from otel_perf.findings import Finding, Kind, Severity
from otel_perf.model import Resource, SpanBatch, SpanKind, SpanRecord

NS = 1_000_000_000
MS = 1_000_000
#: (caller service, caller route, callee service): one call a fault's traffic makes
Call = tuple[str, str, str]


@dataclass(frozen=True)
class Fault:
    """An injected fault: its findings and what the probable cause must be."""

    name: str
    findings: list[Finding]
    cause_service: str
    cause_kinds: frozenset[Kind]
    cause_subject: str  # a substring of the cause's subject
    calls: tuple[Call, ...] = ()  # service-to-service calls its traffic makes


def _at(t0: int, rng: random.Random) -> int:
    return t0 + int(rng.uniform(0, 120) * NS)


def _finding(
    kind: Kind, service: str, subject: str, t: int, summary: str, source: str, **attributes: object
) -> Finding:
    """A finding as ``source`` writes it; capacity forecasts and SLO burn are critical."""
    critical = kind in (Kind.BURN_RATE_ALERT, Kind.CAPACITY_FORECAST)
    return Finding(
        kind=kind,
        severity=Severity.CRITICAL if critical else Severity.WARNING,
        service=service,
        subject=subject,
        time_ns=t,
        summary=summary,
        attributes=attributes,
        source=source,
    )


def slow_request(service: str, route: str, t: int, path: list[tuple[str, str]]) -> Finding:
    steps = [{"service": s, "operation": o, "ms": 600.0, "share": 0.7} for s, o in path]
    summary = f"40 of 200 {route} requests took over 500 ms"
    return _finding(
        Kind.SLOW_REQUEST, service, route, t, summary, "bottlenecks",
        slow=40, requests=200, p95_ms=900.0, change="regressed", critical_path=steps,
    )  # fmt: skip


def anomaly(service: str, route: str, t: int, start: int) -> Finding:
    series = f"span.p95_ms{{{service},{route}}}"
    return _finding(
        Kind.ANOMALY_DETECTED, service, series, t, f"{series} above its expected band", "anomaly",
        series=series, value=900.0, expected_low=80.0, expected_high=160.0, score=0.999,
        max_score=0.999, direction="up", start_ns=start,
    )  # fmt: skip


def burn(service: str, route: str, t: int, since: int) -> Finding:
    summary = f"{service}-latency: burn-rate page firing"
    return _finding(
        Kind.BURN_RATE_ALERT, service, f"{service}-latency page", t, summary, "slo",
        objective=f"{service}-latency", alert="page", status="firing", since_ns=since,
        target=0.99, suggested=False, pages=True, burn_rates=[],
    )  # fmt: skip


def slow_query(service: str, route: str, statement: str, t: int) -> Finding:
    summary = f"postgresql query p50 300 ms, 6× its usual 50 ms: {statement}"
    return _finding(
        Kind.SLOW_QUERY, service, f"postgresql {statement}", t, summary, "bottlenecks",
        fingerprint_id=hashlib.sha1(statement.encode()).hexdigest()[:16], fingerprint=statement,
        operation=f"postgresql {statement}", db_system="postgresql", count=500, p50_ms=300.0,
        p95_ms=450.0, change="regressed", traffic_share=0.4, saveable_ms_per_request=250.0,
        routes=[{"service": service, "route": route, "share": 1.0}],
    )  # fmt: skip


def regression(service: str, operation: str, t: int, old: str, new: str) -> Finding:
    summary = f"{service} {operation}: regressed from version {old} to {new}"
    return _finding(
        Kind.REGRESSION_DETECTED, service, f"{operation} {old} -> {new}", t, summary,
        "regression", operation=operation, old_version=old, new_version=new, reason="p95 6.0x",
    )  # fmt: skip


def capacity(service: str, resource: str, t: int) -> Finding:
    summary = f"{resource} is forecast to reach limit (1) in 0.1 days"
    return _finding(
        Kind.CAPACITY_FORECAST, service, f"{resource} >= limit", t, summary, "capacity",
        resource=resource, metric="system.cpu.utilization", threshold=1.0,
        threshold_label="limit", days_until=0.1,
    )  # fmt: skip


def release_statement(service: str, t0: int, rng: random.Random) -> Fault:
    """A release that slows one statement: regression, slow query, route latency, SLO burn."""
    route, statement = "GET /search", f"SELECT * FROM items_{service} WHERE name LIKE ?"
    late = [_at(t0, rng) for _ in range(5)]
    return Fault(
        "release slows a statement",
        [
            regression(service, route, late[0], "1.0", "2.0"),
            slow_query(service, route, statement, late[1]),
            slow_request(service, route, late[2], [(service, f"postgresql {statement}")]),
            anomaly(service, route, late[3], t0 + int(rng.uniform(0, 60) * NS)),
            burn(service, route, late[4], t0 + int(rng.uniform(30, 90) * NS)),
        ],
        service,
        frozenset({Kind.SLOW_QUERY}),
        statement,
    )


def downstream(service: str, callers: list[str], t0: int, rng: random.Random) -> Fault:
    """A downstream service slowing: its route, and every upstream caller's route and SLO."""
    route = "GET /quote/{id}"
    found = [
        slow_request(service, route, _at(t0, rng), [(service, route)]),
        anomaly(service, route, _at(t0, rng), t0 + int(rng.uniform(0, 60) * NS)),
    ]
    for caller in callers:
        path = [(caller, "POST /checkout"), (service, route)]
        found += [
            slow_request(caller, "POST /checkout", _at(t0, rng), path),
            anomaly(caller, "POST /checkout", _at(t0, rng), t0 + int(rng.uniform(0, 60) * NS)),
            burn(caller, "POST /checkout", _at(t0, rng), t0 + int(rng.uniform(0, 90) * NS)),
        ]
    return Fault(
        "downstream slows",
        found,
        service,
        frozenset({Kind.SLOW_REQUEST, Kind.ANOMALY_DETECTED}),
        route,
        tuple((caller, "POST /checkout", service) for caller in callers),
    )


def cpu_saturation(service: str, t0: int, rng: random.Random) -> Fault:
    """A CPU-saturated host: latency across its routes, and the capacity finding."""
    routes = ["GET /", "GET /items", "POST /items"]
    found = [capacity(service, f"{service} cpu", _at(t0, rng))]
    for route in routes:
        found.append(anomaly(service, route, _at(t0, rng), t0 + int(rng.uniform(0, 90) * NS)))
        found.append(slow_request(service, route, _at(t0, rng), [(service, route)]))
    return Fault(
        "cpu saturation", found, service, frozenset({Kind.CAPACITY_FORECAST}), f"{service} cpu"
    )


def scenario(seed: int, t0: int = 1_800_000_000 * NS, missed: float = 0.0) -> list[Fault]:
    """Two to four simultaneous faults on disjoint services (seeded); each finding but the
    first (the cause's, or the first symptom's) is missed with probability ``missed``, as a
    processor whose floor the fault did not cross raises nothing."""
    rng = random.Random(seed)
    faults = []
    for i in range(rng.randint(2, 4)):
        kind = rng.choice(("release", "downstream", "cpu"))
        name = f"svc{seed}-{i}"
        if kind == "release":
            faults.append(release_statement(name, t0, rng))
        elif kind == "downstream":
            callers = [f"{name}-caller{j}" for j in range(rng.randint(1, 3))]
            faults.append(downstream(name, callers, t0, rng))
        else:
            faults.append(cpu_saturation(name, t0, rng))
    return [_miss(fault, missed, rng) for fault in faults] if missed else faults


def _miss(fault: Fault, missed: float, rng: random.Random) -> Fault:
    kept = [f for i, f in enumerate(fault.findings) if i < 2 or rng.random() >= missed]
    return replace(fault, findings=kept)


def decoy_calls(faults: list[Fault], rng: random.Random, share: float = 0.3) -> list[Call]:
    """Calls that explain nothing: every service calls a healthy ``auth``, and ``share`` of
    the services call another fault's service from a route of their own that is not in
    trouble (``GET /report``) — a call graph joined too eagerly merges those faults."""
    out = []
    for i, fault in enumerate(faults):
        others = [o.cause_service for j, o in enumerate(faults) if j != i]
        for service in sorted({f.service for f in fault.findings}):
            out.append((service, "GET /login", "auth"))
            if others and rng.random() < share:
                out.append((service, "GET /report", rng.choice(others)))
    return out


def traffic(faults: list[Fault], t0: int, decoys: list[Call] | None = None) -> SpanBatch:
    """The spans the faults' services send, whatever was raised about them: a server span
    of each service, and each call as a client span (``server.address``: the callee, as
    Kubernetes service names are) under the caller's server span."""
    spans: list[SpanRecord] = []
    calls = [c for fault in faults for c in fault.calls] + (decoys or [])
    served = {f.service for fault in faults for f in fault.findings}
    served |= {callee for _, _, callee in calls}
    for n, service in enumerate(sorted(served), start=1):
        spans.append(_span(n, 0, service, "GET /health", SpanKind.SERVER, t0, {}))
    for n, (caller, route, callee) in enumerate(calls):
        parent = 10_000 + n
        spans.append(_span(parent, 0, caller, route, SpanKind.SERVER, t0, {}))
        spans.append(
            _span(
                20_000 + n, parent, caller, "POST", SpanKind.CLIENT, t0, {"server.address": callee}
            )
        )
    return SpanBatch(spans)


def _span(
    n: int, parent: int, service: str, name: str, kind: int, t0: int, attrs: dict[str, str]
) -> SpanRecord:
    method, _, route = name.partition(" ")
    if kind == SpanKind.SERVER and route:
        attrs = {**attrs, "http.request.method": method, "http.route": route}
    return SpanRecord(
        trace_id=hashlib.md5(str(parent or n).encode()).digest(),
        span_id=n.to_bytes(8, "big"),
        parent_span_id=parent.to_bytes(8, "big") if parent else b"",
        resource=Resource({"service.name": service}),
        scope_name="bench",
        name=name,
        kind=kind,
        start_ns=t0,
        end_ns=t0 + 50 * MS,
        status_code=0,
        status_message="",
        attributes=dict(attrs),
    )
