"""What a finding is about, read once: its service, routes, statement, downstream services,
resource, layer on the call graph, when its episode began and which release it names.

Layers, from cause to symptom: a statement or a resource (0) sits under the routes that
run it (1), which sit under the service's objectives (2). A downstream service sits under
the upstream routes whose critical path goes through it, whatever its own layer.
"""

from __future__ import annotations

from dataclasses import dataclass

from otel_perf.findings import Finding, Kind

STATEMENT, ROUTE, SERVICE = 0, 1, 2
ALL_SERVICES = "*"  # the capacity processor's service of a host-wide resource
STATEMENT_KINDS = frozenset({Kind.SLOW_QUERY, Kind.N_PLUS_ONE})
ROUTE_KINDS = frozenset(
    {Kind.SLOW_REQUEST, Kind.ANOMALY_DETECTED, Kind.BOTTLENECK_IDENTIFIED, Kind.REGRESSION_DETECTED}
)
SLO_KINDS = frozenset({Kind.BURN_RATE_ALERT, Kind.SLO_VIOLATION})
#: kinds an incident is made of (improvements and plain advice are not trouble)
TROUBLE = STATEMENT_KINDS | ROUTE_KINDS | SLO_KINDS | {Kind.CAPACITY_FORECAST}


@dataclass(frozen=True)
class Facts:
    """One finding's place in the call graph (see the module docstring)."""

    finding: Finding
    routes: frozenset[str]
    statement: str | None
    downstream: frozenset[str]
    resource: str | None
    layer: int
    start_ns: int
    release: tuple[str, str] | None
    key: str  # the finding's key, hashed once

    @property
    def service(self) -> str:
        return self.finding.service


def facts_of(finding: Finding, first_seen_ns: int | None = None) -> Facts | None:
    """The facts of ``finding``; None when its kind is not trouble (an improvement, advice)."""
    if finding.kind not in TROUBLE:
        return None
    a = finding.attributes
    statement = _statement(finding)
    release = None
    if a.get("old_version") is not None and a.get("new_version") is not None:
        release = (str(a["old_version"]), str(a["new_version"]))
    elif isinstance(a.get("release"), str):
        release = ("", str(a["release"]))
    return Facts(
        finding=finding,
        routes=frozenset(_routes(finding)),
        statement=statement,
        downstream=frozenset(_downstream(finding)),
        resource=str(a["resource"]) if finding.kind == Kind.CAPACITY_FORECAST else None,
        layer=_layer(finding, statement),
        start_ns=_start(finding, first_seen_ns),
        release=release,
        key=finding.key,
    )


def _layer(finding: Finding, statement: str | None) -> int:
    if finding.kind in SLO_KINDS:
        return SERVICE
    if statement is not None or finding.kind == Kind.CAPACITY_FORECAST:
        return STATEMENT
    return ROUTE


def _statement(finding: Finding) -> str | None:
    """The statement (exit operation) a finding is about, None for a route's finding."""
    a = finding.attributes
    if finding.kind in STATEMENT_KINDS:
        return str(a.get("operation") or a.get("fingerprint_id") or finding.subject)
    operation = a.get("operation")
    if finding.kind == Kind.REGRESSION_DETECTED and isinstance(operation, str):
        # an exit operation is "<db system> <statement>"; an entry route starts with a method
        # or a path (entries are named by route, see otel_perf.semconv)
        head = operation.split(" ", 1)[0]
        if " " in operation and not head.isupper() and not head.startswith("/"):
            return operation
    return None


def _routes(finding: Finding) -> list[str]:
    a = finding.attributes
    if finding.kind in STATEMENT_KINDS:
        routes = a.get("routes") or []
        return [
            str(r["route"])
            for r in routes
            if isinstance(r, dict) and r.get("service", finding.service) == finding.service
        ]
    if finding.kind == Kind.SLOW_REQUEST:
        return [finding.subject]
    if finding.kind == Kind.ANOMALY_DETECTED:
        series = str(a.get("series") or finding.subject)
        inside = series.partition("{")[2]
        inside = inside[:-1] if inside.endswith("}") else inside  # routes hold braces too
        return [inside.split(",", 1)[1]] if "," in inside else []
    operation = a.get("operation")
    if isinstance(operation, str) and operation and _statement(finding) is None:
        return [operation]
    return []


def _downstream(finding: Finding) -> list[str]:
    """Other services on the finding's critical path or named as the peer of its calls."""
    a = finding.attributes
    out = []
    for step in a.get("critical_path") or []:
        if isinstance(step, dict) and step.get("service") not in (None, finding.service):
            out.append(str(step["service"]))
    for name in a.get("downstream_services") or []:
        out.append(str(name))
    return out


def _start(finding: Finding, first_seen_ns: int | None) -> int:
    a = finding.attributes
    for name in ("start_ns", "since_ns"):
        value = a.get(name)
        if isinstance(value, int) and 0 < value <= finding.time_ns:
            return value
    if first_seen_ns is not None:
        return min(first_seen_ns, finding.time_ns)
    return finding.time_ns
