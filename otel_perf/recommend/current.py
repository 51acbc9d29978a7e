"""What is open now: the newest finding of each episode, without resolved episodes, closed
anomalies or anything a day older than the newest finding.

The one notion of "open" that the recommendations list, health, the incidents processor and
the open-finding gauges share. Pure: snapshots and findings in, findings out; event time
("now") is the newest finding's or processor evaluation's, never the clock. What a processor's
snapshot adds — findings it holds, episodes it shows are over, its evaluation times — comes
through its factory's surface (``held_findings``, ``closed_by``, ``evaluated_ns``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from otel_perf.component import Surface, processor_types
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
    """Event time "now": the newest finding's or processor evaluation's time (0 if none; the
    evaluations are those the components' surfaces read from snapshots, ``evaluated_ns``)."""
    times = [f.time_ns for f in findings]
    for type_name, surface in _surfaces():
        if surface.evaluated_ns is not None:
            times += surface.evaluated_ns(snapshots.get(type_name, {}))
    return max(times, default=0)


def current_findings(findings: Sequence[Finding], snapshots: Snapshots) -> list[Finding]:
    """Stored findings plus those processors hold in their snapshots (``held_findings``),
    newest per key, without resolved episodes, episodes a processor's snapshot says are
    over (``closed_by``) or anything older than MAX_AGE_NS that is not an episode."""
    held = [*findings]
    closed = []
    for type_name, surface in _surfaces():
        snaps = snapshots.get(type_name, {})
        if surface.held_findings is not None:
            held += surface.held_findings(snaps)
        if surface.closed_by is not None:
            closed.append(surface.closed_by(snaps))
    now = now_of(held, snapshots)
    out = []
    for f in latest_by_key(held):
        if f.state == State.RESOLVED or any(over(f) for over in closed):
            continue
        if f.kind not in EPISODES and now - f.time_ns > MAX_AGE_NS:
            continue
        out.append(f)
    return out


def _surfaces() -> list[tuple[str, Surface]]:
    """Each processor type's name and surface, in type order."""
    return [(name, factory.surface) for name, factory in processor_types().items()]
