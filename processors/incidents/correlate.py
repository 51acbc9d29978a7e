"""Findings into groups, and the probable cause of each group.

Two findings are linked when their episodes overlap in event time (within ``overlap_ns``)
and one explains the other along the call graph, or both are about the same thing:

* a statement's finding explains its routes' findings (the routes that run it, or every
  route of its service when it names none) and its service's objectives;
* a route's finding explains its service's objectives about that route (or about none);
* a resource's finding (capacity) explains the findings of the routes and objectives of
  its service (every service for a host-wide resource);
* a finding about service D explains a finding about service U whose critical path goes
  through D (a downstream service's trouble explains its callers');
* findings about the same statement, or the same route of a service, are the same trouble.

Groups are the connected parts of that graph. The probable cause of a group is the member
nothing in the group explains; among those, the one lowest on the call graph, then the
first to move, then the one that explains most.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from otel_perf.findings import Kind
from otel_perf.processors.incidents.calls import CallGraph
from otel_perf.processors.incidents.facts import ALL_SERVICES, SERVICE, STATEMENT, Facts

#: which kind is taken as the cause when everything else ties (direct evidence first)
KIND_ORDER = (
    Kind.SLOW_QUERY,
    Kind.N_PLUS_ONE,
    Kind.REGRESSION_DETECTED,
    Kind.CAPACITY_FORECAST,
    Kind.SLOW_REQUEST,
    Kind.BOTTLENECK_IDENTIFIED,
    Kind.ANOMALY_DETECTED,
    Kind.BURN_RATE_ALERT,
    Kind.SLO_VIOLATION,
)


@dataclass
class Group:
    """Members of one incident, the causal links between them and the probable cause."""

    members: list[Facts]
    explains: dict[str, list[str]] = field(default_factory=dict)  # cause key -> effect keys
    cause: Facts | None = None


def overlaps(a: Facts, b: Facts, overlap_ns: int) -> bool:
    """Episodes [start, last reported] of ``a`` and ``b`` within ``overlap_ns`` of each other."""
    return (
        a.start_ns - overlap_ns <= b.finding.time_ns
        and b.start_ns - overlap_ns <= a.finding.time_ns
    )


def explains(cause: Facts, effect: Facts) -> bool:
    """``cause`` sits under ``effect`` on the call graph (see the module docstring)."""
    if cause.key == effect.key:
        return False
    if cause.service != effect.service:
        host_wide = cause.resource is not None and cause.service == ALL_SERVICES
        return host_wide or (cause.service in effect.downstream)
    if cause.layer >= effect.layer or cause.resource is not None and effect.resource:
        return False
    if effect.layer == SERVICE:  # an objective: about one route, or about the service
        return not effect.routes or not cause.routes or bool(cause.routes & effect.routes)
    return not cause.routes or bool(cause.routes & effect.routes)


def same(a: Facts, b: Facts) -> bool:
    """The same statement or the same route of one service."""
    if a.service != b.service or a.layer != b.layer:
        return False
    if a.statement is not None and a.statement == b.statement:
        return True
    return a.statement is None and b.statement is None and bool(a.routes & b.routes)


def correlate(facts: Sequence[Facts], overlap_ns: int) -> list[Group]:
    """The groups of ``facts`` with their links and probable causes, largest first."""
    facts = shared_paths(facts)
    parent = list(range(len(facts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    links: dict[int, list[str]] = {}  # cause index -> effect keys
    for i, j in candidate_pairs(facts):
        a, b = facts[i], facts[j]
        if overlaps(a, b, overlap_ns):
            a_b, b_a = explains(a, b), explains(b, a)
            if a_b:
                links.setdefault(i, []).append(b.key)
            if b_a:
                links.setdefault(j, []).append(a.key)
            if a_b or b_a or same(a, b):
                parent[root(i)] = root(j)
    by_root: dict[int, list[int]] = {}
    for i in range(len(facts)):
        by_root.setdefault(root(i), []).append(i)
    groups = []
    for rows in by_root.values():
        group = Group(
            members=sorted((facts[i] for i in rows), key=lambda m: (m.start_ns, m.key)),
            explains={facts[i].key: links[i] for i in rows if i in links},
        )
        group.cause = probable_cause(group)
        groups.append(group)
    return sorted(groups, key=lambda g: (-len(g.members), g.members[0].start_ns))


def candidate_pairs(facts: Sequence[Facts]) -> list[tuple[int, int]]:
    """Index pairs ``i < j`` that can be linked at all: the same service, one on the other's
    critical path, or a host-wide resource — so a tick is not quadratic in all findings."""
    by_service: dict[str, list[int]] = {}
    for i, f in enumerate(facts):
        by_service.setdefault(f.service, []).append(i)
    host_wide = by_service.get(ALL_SERVICES, [])
    pairs: set[tuple[int, int]] = set()
    for i, f in enumerate(facts):
        near = [*by_service[f.service], *host_wide]
        for service in f.downstream:
            near += by_service.get(service, [])
        pairs.update((min(i, j), max(i, j)) for j in near if j != i)
    return sorted(pairs)


def shared_paths(facts: Sequence[Facts]) -> list[Facts]:
    """Every finding about a route gets the downstream services any finding about that route
    saw on its critical path: the path is the route's, whichever finding reported it."""
    seen: dict[tuple[str, str], set[str]] = {}
    for f in facts:
        for route in f.routes:
            seen.setdefault((f.service, route), set()).update(f.downstream)
    out = []
    for f in facts:
        extra = set().union(*(seen[(f.service, r)] for r in f.routes)) if f.routes else set()
        out.append(replace(f, downstream=f.downstream | extra) if extra - f.downstream else f)
    return out


def with_calls(facts: Sequence[Facts], calls: CallGraph) -> list[Facts]:
    """Findings about routes get the services those routes call (learned from spans) as
    downstream, so an upstream symptom whose critical path was not reported still joins
    its downstream's incident. Statements and resources call nothing; an objective joins
    through its routes' findings."""
    out = []
    for f in facts:
        if f.layer == STATEMENT or f.resource is not None or not f.routes:
            out.append(f)
            continue
        extra = calls.callees(f.service, f.routes) - f.downstream
        out.append(replace(f, downstream=f.downstream | extra) if extra else f)
    return out


def probable_cause(group: Group) -> Facts:
    """The member nothing explains; then lowest layer, first to move, explains most."""
    explained = {e for effects in group.explains.values() for e in effects}

    def rank(m: Facts) -> tuple[int, int, int, int, int, str]:
        reach = len(reach_of(group, m.key))
        return (
            m.key in explained,
            m.layer,
            m.start_ns,
            -reach,
            KIND_ORDER.index(m.finding.kind),
            m.key,
        )

    return min(group.members, key=rank)


def reach_of(group: Group, key: str) -> set[str]:
    """Every member that ``key`` explains, directly or through others."""
    seen: set[str] = set()
    todo = [key]
    while todo:
        for effect in group.explains.get(todo.pop(), []):
            if effect not in seen:
                seen.add(effect)
                todo.append(effect)
    seen.discard(key)
    return seen
