"""One group of findings told as an incident: title, start, members, probable cause with
its reasoning as data, impact and one recommended action. Pure: no clock, no store."""

from __future__ import annotations

import hashlib
from typing import Any

from otel_perf.findings import Finding, Kind, Severity, State
from otel_perf.processors.incidents.correlate import Group, reach_of
from otel_perf.processors.incidents.facts import ROUTE, SERVICE, STATEMENT, Facts
from otel_perf.recommend.ranking import Inputs, impact_of, recommend

#: members listed (kind, severity, service, subject) in an incident finding's attributes
MAX_LISTED = 50
LAYER_NAMES = {STATEMENT: "statement or resource", ROUTE: "route", SERVICE: "objective"}
KIND_WORDS = {
    Kind.SLOW_QUERY: "slow query",
    Kind.N_PLUS_ONE: "N+1",
    Kind.REGRESSION_DETECTED: "regression",
    Kind.CAPACITY_FORECAST: "capacity",
    Kind.SLOW_REQUEST: "slow requests",
    Kind.BOTTLENECK_IDENTIFIED: "bottleneck",
    Kind.ANOMALY_DETECTED: "anomaly",
    Kind.BURN_RATE_ALERT: "SLO burn",
    Kind.SLO_VIOLATION: "SLO violation",
}


def incident_id(group: Group) -> str:
    """A new incident's id: from its probable cause's key and its start."""
    assert group.cause is not None  # correlate() always sets it
    raw = f"{group.cause.key}\x1f{group.members[0].start_ns}"
    return "inc-" + hashlib.sha1(raw.encode()).hexdigest()[:10]


def tell(group: Group, incident: str) -> dict[str, Any]:
    """The JSON-ready incident ``incident`` made of ``group``."""
    cause = group.cause
    assert cause is not None
    start = min(m.start_ns for m in group.members)
    return {
        "id": incident,
        "title": title(group),
        "state": "open",
        "start_ns": start,
        "last_ns": max(m.finding.time_ns for m in group.members),
        "services": sorted({m.service for m in group.members}),
        "severity": max((m.finding.severity for m in group.members), key=lambda s: s.rank).value,
        "members": [_member(m) for m in group.members],
        "probable_cause": _cause(group, cause),
        "impact": impact(group),
        "action": action(cause),
    }


def title(group: Group) -> str:
    cause = group.cause
    assert cause is not None
    what = _subject(cause)
    others = sorted(
        {KIND_WORDS[m.finding.kind] for m in group.members if m.key != cause.key}
        | {f"{m.service}" for m in group.members if m.service != cause.service}
    )
    tail = f" → {', '.join(others)}" if others else ""
    return f"{cause.service}: {KIND_WORDS[cause.finding.kind]} {what}{tail}"[:200]


def _subject(m: Facts) -> str:
    text = m.statement or m.resource or (sorted(m.routes)[0] if m.routes else m.finding.subject)
    return text if len(text) <= 80 else text[:79] + "…"


def _member(m: Facts) -> dict[str, Any]:
    f = m.finding
    return {
        "key": f.key,
        "kind": f.kind.value,
        "service": f.service,
        "subject": f.subject,
        "severity": f.severity.value,
        "start_ns": m.start_ns,
        "time_ns": f.time_ns,
        "layer": LAYER_NAMES[m.layer],
        "summary": f.summary,
    }


def _cause(group: Group, cause: Facts) -> dict[str, Any]:
    """The probable cause and why, as data: first signal, place on the call graph, release."""
    first = min(group.members, key=lambda m: (m.start_ns, m.key))
    explained = sorted(reach_of(group, cause.key))
    release = cause.release or next(
        (m.release for m in group.members if m.release is not None), None
    )
    reasons = [f"nothing else in the incident explains it ({LAYER_NAMES[cause.layer]} level)"]
    if explained:
        reasons.append(f"it explains {len(explained)} of the other {len(group.members) - 1}")
    if first.key == cause.key:
        reasons.append("it moved first")
    downstream_of = sorted({m.service for m in group.members if cause.service in m.downstream})
    if downstream_of:
        reasons.append(f"it is downstream of {', '.join(downstream_of)} on the critical path")
    if release is not None:
        reasons.append(f"release {release[1]} coincides")
    return {
        "key": cause.key,
        "kind": cause.finding.kind.value,
        "service": cause.service,
        "subject": cause.finding.subject,
        "summary": cause.finding.summary,
        "reasoning": {
            "first_signal": {
                "key": first.key,
                "kind": first.finding.kind.value,
                "service": first.service,
                "start_ns": first.start_ns,
            },
            "moved_first": first.key == cause.key,
            "layer": LAYER_NAMES[cause.layer],
            "downstream_of": downstream_of,
            "explains": explained,
            "release": None if release is None else {"old": release[0], "new": release[1]},
            "reasons": reasons,
        },
    }


def impact(group: Group) -> dict[str, Any]:
    """Requests seen slow, the least error budget left, the worst burn, and the points of
    the members' recommendations (``otel_perf.recommend``' scale)."""
    slow = budget = None
    points = 0.0
    for m in group.members:
        a = m.finding.attributes
        if m.finding.kind == Kind.SLOW_REQUEST and isinstance(a.get("slow"), int):
            slow = (slow or 0) + a["slow"]
        left = a.get("error_budget_remaining")
        if isinstance(left, int | float):
            budget = left if budget is None else min(budget, left)
        scored = impact_of(m.finding, Inputs({}, ()))
        if scored is not None:
            points = max(points, scored[1])
    return {
        "slow_requests": slow,
        "error_budget_remaining": budget,
        "routes": sorted({f"{m.service} {r}" for m in group.members for r in m.routes}),
        "score": round(points, 3),
    }


def action(cause: Facts) -> str:
    """The probable cause's recommended action, or where to look."""
    ranked = recommend(Inputs({}, [cause.finding]), limit=1)
    if ranked:
        return str(ranked[0]["action"])
    return f"Investigate {cause.service}: {cause.finding.summary}"


def incident_finding(
    body: dict[str, Any], now_ns: int, source: str, state: State = State.OPEN
) -> Finding:
    """The ``incident`` finding (event ``otel_perf.incident``) of an incident that opened,
    changed members or severity (``updated``) or resolved: what Alertmanager pages once per
    incident, with the members listed, instead of once per member."""
    cause = body["probable_cause"]
    summary = f"{body['title']} — do: {body['action']}"
    return Finding(
        kind=Kind.INCIDENT,
        severity=Severity(body["severity"]),
        service=cause["service"],
        subject=body["id"],
        time_ns=now_ns,
        summary=f"resolved: {body['title']}" if state == State.RESOLVED else summary,
        attributes={
            "incident": body["id"],
            "title": body["title"],
            "start_ns": body["start_ns"],
            "services": body["services"],
            "members": len(body["members"]),
            "member_findings": [
                {k: m[k] for k in ("kind", "severity", "service", "subject")}
                for m in body["members"][:MAX_LISTED]
            ],
            "cause_kind": cause["kind"],
            "cause_subject": cause["subject"],
            "cause_key": cause["key"],
            "reasons": cause["reasoning"]["reasons"],
            "action": body["action"],
        },
        evidence={"finding_keys": [m["key"] for m in body["members"]]},
        source=source,
        state=state,
    )
