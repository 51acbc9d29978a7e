"""What is open now: the newest finding of each episode, without resolved episodes, closed
anomalies or anything a day older than the newest finding.

The one notion of "open" that the recommendations list, health, the incidents processor and
the open-finding gauges share. Pure: snapshots and findings in, findings out; event time
("now") is the newest finding's or SLO evaluation's, never the clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from otel_perf.findings import Finding, Kind, State
from otel_perf.recommend.rules import Snapshots

NS = 1_000_000_000
#: findings older than this (event time, before the newest finding) are no longer actions
MAX_AGE_NS = 24 * 3600 * NS
EPISODES = frozenset({Kind.BURN_RATE_ALERT, Kind.SLO_VIOLATION, Kind.ANOMALY_DETECTED})


def latest_by_key(findings: Iterable[Finding]) -> list[Finding]:
    """The newest finding of each episode (``Finding.key``), newest first."""
    newest: dict[str, Finding] = {}
    for finding in findings:
        seen = newest.get(finding.key)
        if seen is None or finding.time_ns >= seen.time_ns:
            newest[finding.key] = finding
    return sorted(newest.values(), key=lambda f: (-f.time_ns, f.key))


def now_of(findings: Iterable[Finding], snapshots: Snapshots) -> int:
    """Event time "now": the newest finding's or SLO evaluation's time (0 if none)."""
    times = [f.time_ns for f in findings]
    for snap in snapshots.get("slo", {}).values():
        times += [int(o.get("at_ns") or 0) for o in snap.get("objectives", [])]
    return max(times, default=0)


def current_findings(findings: Sequence[Finding], snapshots: Snapshots) -> list[Finding]:
    """Stored findings plus the capacity and cache processors' current ones, newest per
    key, without resolved episodes, closed anomalies or anything older than MAX_AGE_NS."""
    held = [*findings, *_snapshot_findings(snapshots)]
    now = now_of(held, snapshots)
    open_series = _open_anomalies(snapshots)
    out = []
    for f in latest_by_key(held):
        if f.state == State.RESOLVED:
            continue
        if f.kind == Kind.ANOMALY_DETECTED and open_series is not None:
            if (f.source, f.subject) not in open_series:
                continue
        elif f.kind not in EPISODES and now - f.time_ns > MAX_AGE_NS:
            continue
        out.append(f)
    return out


def _snapshot_findings(snapshots: Snapshots) -> list[Finding]:
    out = []
    for kind, key in (("capacity", "current_findings"), ("cache", "recommendations")):
        for snap in snapshots.get(kind, {}).values():
            out += [Finding.model_validate(body) for body in snap.get(key, [])]
    return out


def _open_anomalies(snapshots: Snapshots) -> set[tuple[str, str]] | None:
    """(source, series) of open anomaly episodes; None without an anomaly processor."""
    snaps = snapshots.get("anomaly", {})
    if not snaps:
        return None
    return {(pid, e["series"]) for pid, s in snaps.items() for e in s.get("open_episodes", [])}
