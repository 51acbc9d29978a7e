"""The findings open now, as gauges an alert rule can fire on.

Both metrics exporters publish, for each open finding, one series of
``otel_perf.finding.open`` (value 1) and one of ``otel_perf.finding.impact`` (its
recommendation's score on the ranking's points scale, see ``otel_perf.recommend``,
with counts read per 60 s — the bottlenecks processor's default ``evaluation_interval``;
findings that recommend no action have none), with the same labels: ``kind``,
``service``, ``subject``, ``severity``, ``source``, ``finding_key`` and, when the finding
has them, ``fingerprint_id``, ``objective``, ``operation`` and ``suggested``. A series
disappears when its finding resolves.

"Open" is what the recommendations list calls current: the newest finding of each key,
not resolved; a finding of a kind without episodes (no resolve ever comes) stops being
open a day of event time after it was last reported. The set holds at most
``max_open`` findings; more are left out of the gauges and counted in ``dropped``.

The ``otel_perf.findings`` counter counts openings only: a finding in state ``open``
whose key is not open already (updates and resolves are not counted).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from otel_perf.findings import Finding, State
from otel_perf.recommend.current import current_findings
from otel_perf.recommend.ranking import Inputs, impact_of

OPEN = "otel_perf.finding.open"
IMPACT = "otel_perf.finding.impact"
OPEN_DROPPED = "otel_perf.finding.open.dropped"
#: finding attributes that become labels when present (each bounded by its finding)
LABEL_ATTRIBUTES = ("fingerprint_id", "objective", "operation", "suggested")
MAX_LABEL_CHARS = 200
DEFAULT_MAX_OPEN = 1000
#: findings read from the store at start, to publish what was open before a restart
SEED_LIMIT = 5000


@dataclass(frozen=True)
class OpenFinding:
    """One open finding with its gauge labels and impact points (None: no action)."""

    finding: Finding
    labels: dict[str, str]
    impact: float | None


def labels_of(finding: Finding) -> dict[str, str]:
    """The labels of a finding's gauge series (values cut to ``MAX_LABEL_CHARS``)."""
    labels = {
        "kind": finding.kind.value,
        "service": finding.service,
        "subject": finding.subject,
        "severity": finding.severity.value,
        "source": finding.source,
        "finding_key": finding.key,
    }
    for name in LABEL_ATTRIBUTES:
        value = finding.attributes.get(name)
        if isinstance(value, bool):
            labels[name] = str(value).lower()
        elif isinstance(value, str | int | float) and value != "":
            labels[name] = str(value)
    return {k: v[:MAX_LABEL_CHARS] for k, v in labels.items()}


class OpenFindings:
    """Thread-safe set of open findings by key (exporters offer, metric readers read)."""

    def __init__(self, max_open: int = DEFAULT_MAX_OPEN) -> None:
        self.max_open = max_open
        self.dropped = 0  # openings left out of the gauges because the set was full
        self._open: dict[str, OpenFinding] = {}
        self._lock = threading.Lock()

    def seed(self, findings: Iterable[Finding]) -> None:
        """Take what was open before a restart (stored findings, any order), uncounted."""
        for finding in current_findings(list(findings), {}):
            self.offer(finding)

    def offer(self, finding: Finding) -> bool:
        """Note a finding; True when it is an opening (to count)."""
        key = finding.key
        with self._lock:
            if finding.state == State.RESOLVED:
                self._open.pop(key, None)
                return False
            known = key in self._open
            if not known and len(self._open) >= self.max_open:
                self._prune()
                if len(self._open) >= self.max_open:
                    self.dropped += 1
                    return finding.state == State.OPEN
            self._open[key] = _entry(finding)
            return finding.state == State.OPEN and not known

    def current(self) -> list[OpenFinding]:
        """The open findings, worst severity first (stale non-episode ones dropped)."""
        with self._lock:
            self._prune()
            entries = list(self._open.values())
        return sorted(entries, key=lambda e: (-e.finding.severity.rank, e.finding.key))

    def _prune(self) -> None:
        keep = {f.key for f in current_findings([e.finding for e in self._open.values()], {})}
        for key in [k for k in self._open if k not in keep]:
            del self._open[key]


def _entry(finding: Finding) -> OpenFinding:
    impact = impact_of(finding, Inputs({}, ()))
    return OpenFinding(finding, labels_of(finding), None if impact is None else impact[1])
