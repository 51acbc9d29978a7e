"""Findings as Alertmanager alerts: stable labels, readable annotations, RFC 3339 times.

Alertmanager identifies an alert by its label set, so labels hold only what is
fixed for an episode (kind, service, subject, objective, ...) and everything
that changes while it lasts (values, scores, burn rates) goes to annotations.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from otel_perf.findings import Finding, Kind

ALERTNAMES = {
    Kind.BURN_RATE_ALERT: "OtelPerfBurnRate",
    Kind.SLO_VIOLATION: "OtelPerfSLOViolation",
    Kind.REGRESSION_DETECTED: "OtelPerfRegression",
    Kind.ANOMALY_DETECTED: "OtelPerfAnomaly",
    Kind.CAPACITY_FORECAST: "OtelPerfCapacityForecast",
}
#: finding attributes that become labels when present (they are fixed per episode)
LABEL_ATTRIBUTES = ("objective", "window", "operation", "resource", "threshold", "incident")
#: annotations of our own; finding attributes of the same name are not copied over them
RESERVED_ANNOTATIONS = frozenset({"summary", "description", "finding_key", "state", "evidence"})
MAX_ANNOTATION_CHARS = 4096
_INVALID_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_]")


def alertname(kind: Kind) -> str:
    """``OtelPerfBurnRate`` for burn-rate alerts; ``OtelPerf<CamelKind>`` for unlisted kinds."""
    return ALERTNAMES.get(kind) or "OtelPerf" + "".join(
        part.capitalize() for part in kind.value.split("_")
    )


def labels_of(finding: Finding, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The alert's identity: alertname, service, severity, subject, source and the
    attributes in ``LABEL_ATTRIBUTES``; ``extra`` labels never override these.
    Empty values are left out (Alertmanager treats an empty label as absent)."""
    out = dict(extra or {})
    out.update(
        alertname=alertname(finding.kind),
        service=finding.service,
        severity=severity_label(finding),
        subject=finding.subject,
        source=finding.source,
    )
    for name in LABEL_ATTRIBUTES:
        value = finding.attributes.get(name)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            out[name] = str(value)
    if finding.kind == Kind.BURN_RATE_ALERT:
        out["window"] = burn_rate_windows(finding.attributes.get("burn_rates"))
    return {name: value for name, value in out.items() if value}


def severity_label(finding: Finding) -> str:
    """``page`` / ``ticket`` for burn-rate alerts of declared objectives, otherwise the
    finding's severity (a suggested objective's alerts are ``warning``: they never page)."""
    alert = finding.attributes.get("alert")
    suggested = finding.attributes.get("suggested") is True
    if finding.kind == Kind.BURN_RATE_ALERT and isinstance(alert, str) and alert and not suggested:
        return alert
    return finding.severity.value


def burn_rate_windows(rules: Any) -> str:
    """``"1h/5m,6h/30m"``: the long/short window pairs of every rule of the alert's
    severity, firing or not, so the value does not change while the alert lasts."""
    if not isinstance(rules, list):
        return ""
    pairs = []
    for rule in rules:
        if isinstance(rule, dict):
            long, short = rule.get("long"), rule.get("short")
            if isinstance(long, dict) and isinstance(short, dict):
                pairs.append(f"{long.get('window')}/{short.get('window')}")
    return ",".join(pairs)


def annotations_of(finding: Finding) -> dict[str, str]:
    """summary, description, the finding's key and state, its attributes and evidence."""
    out = {
        "summary": finding.summary,
        "description": description(finding),
        "finding_key": finding.key,
        "state": finding.state.value,
    }
    if finding.evidence:
        out["evidence"] = _text(finding.evidence)
    for name, value in finding.attributes.items():
        safe = annotation_name(name)
        if safe not in RESERVED_ANNOTATIONS:
            out.setdefault(safe, _text(value))
    if finding.kind == Kind.INCIDENT:
        out.pop("member_findings", None)
        out["members"] = member_lines(finding)
    return {name: _clip(value) for name, value in out.items()}


def member_lines(finding: Finding) -> str:
    """An incident's members, one a line: ``severity kind service: subject``."""
    lines = [
        f"{m.get('severity')} {m.get('kind')} {m.get('service')}: {m.get('subject')}"
        for m in finding.attributes.get("member_findings") or []
        if isinstance(m, dict)
    ]
    total = finding.attributes.get("members")
    if isinstance(total, int) and total > len(lines):
        lines.append(f"… and {total - len(lines)} more")
    return "\n".join(lines)


def description(finding: Finding) -> str:
    source = f" by {finding.source}" if finding.source else ""
    return (
        f"{finding.summary}\n{finding.kind.value} ({finding.severity.value}, {finding.state.value})"
        f" about {finding.service} {finding.subject}{source} at {rfc3339(finding.time_ns / 1e9)}"
    )


def annotation_name(name: str) -> str:
    """Annotation names follow label-name rules: other characters become ``_``."""
    safe = _INVALID_NAME_CHARS.sub("_", name) or "_"
    return "_" + safe if safe[0].isdigit() else safe


def generator_url(base: str | None, finding: Finding) -> str:
    """``<base>/performance/findings?kind=..&service=..``, or ``""`` without a base."""
    if not base:
        return ""
    query = urlencode({"kind": finding.kind.value, "service": finding.service})
    return f"{base}/performance/findings?{query}"


def rfc3339(seconds: float) -> str:
    """Unix seconds as ``2024-05-01T12:00:00.000Z`` (what Alertmanager's API reads)."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def postable(
    alert_labels: Mapping[str, str],
    alert_annotations: Mapping[str, str],
    starts_at_s: float,
    ends_at_s: float,
    url: str,
) -> dict[str, Any]:
    """One ``postableAlert`` of the v2 API; ``endsAt`` is kept after ``startsAt``."""
    body: dict[str, Any] = {
        "labels": dict(alert_labels),
        "annotations": dict(alert_annotations),
        "startsAt": rfc3339(starts_at_s),
        "endsAt": rfc3339(max(ends_at_s, starts_at_s + 0.001)),
    }
    if url:
        body["generatorURL"] = url
    return body


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _clip(value: str) -> str:
    if len(value) <= MAX_ANNOTATION_CHARS:
        return value
    return value[: MAX_ANNOTATION_CHARS - 1] + "…"
