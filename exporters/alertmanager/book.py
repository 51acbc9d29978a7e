"""The alerts an exporter holds: firing ones to re-send, resolved ones not yet delivered.

Pure state: every method takes ``now_s`` (wall-clock seconds) and returns the
alerts to post; the exporter's worker thread owns the only instance.

Grouped by incident (``grouping``, when an ``incidents`` processor feeds the exporter): a
new alert waits ``group_wait`` before it is first posted; an ``incident`` finding naming it
as a member in the meantime folds it into the incident's one alert, which lists its members
(Alertmanager's ``group_by`` with the incident as the group). A folded or waiting alert is
never posted on its own; one the incident lets go waits again, then pages alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from otel_perf.codec import StateError, decode, encode
from otel_perf.exporters.alertmanager import alerts
from otel_perf.exporters.alertmanager.config import AlertmanagerConfig
from otel_perf.findings import Finding, Kind, Severity, State

#: Prometheus sends endsAt = now + 4 × resend interval on every firing alert
ENDS_AT_RESENDS = 4
#: member findings an incident can fold in
MAX_MEMBERS = 500
log = logging.getLogger("otel_perf.exporters.alertmanager")


@dataclass
class HeldAlert:
    """One alert as Alertmanager knows it; ``ends_at_s`` is set once it is resolved."""

    kind: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at_s: float
    updated_s: float
    url: str = ""
    ends_at_s: float | None = None
    hold_until_s: float = 0.0  # waiting (group_wait) until then before its first post
    incident: str = ""  # the incident finding's key it is folded into

    @property
    def posted(self) -> bool:
        """Sent (or to be sent) on its own: neither waiting nor folded into an incident."""
        return not self.incident and not self.hold_until_s

    @property
    def fingerprint(self) -> str:
        raw = json.dumps(self.labels, sort_keys=True)
        return hashlib.sha1(raw.encode()).hexdigest()[:16]

    def postable(self, now_s: float, resend_s: float) -> dict[str, Any]:
        ends = self.ends_at_s
        if ends is None:
            ends = max(now_s, self.starts_at_s) + ENDS_AT_RESENDS * resend_s
        return alerts.postable(self.labels, self.annotations, self.starts_at_s, ends, self.url)


class AlertBook:
    """Firing alerts by finding key, and resolved ones waiting for delivery.

    Attributes:
        firing: finding key → the alert open for that episode.
        resolving: label fingerprint → a resolved alert whose post has not succeeded.
        dropped: new episodes refused because ``max_active_alerts`` alerts were held.
    """

    def __init__(self, config: AlertmanagerConfig) -> None:
        self.config = config
        self.firing: dict[str, HeldAlert] = {}
        self._ttl_s = {kind.value: ttl for kind, ttl in config.expire_after.items()}
        self.resolving: dict[str, HeldAlert] = {}
        self.dropped = 0
        self.grouping = False
        self.members_of: dict[str, list[str]] = {}  # incident key -> member finding keys
        self.incident_of: dict[str, str] = {}  # member finding key -> incident key

    def __len__(self) -> int:
        return len(self.firing) + len(self.resolving)

    def apply(self, finding: Finding, now_s: float) -> list[HeldAlert]:
        """Take one finding; returns the alerts whose new state must be posted now."""
        if self.grouping and finding.kind == Kind.INCIDENT:
            return self._incident(finding, now_s)
        return self._episode(finding, now_s)

    def _episode(self, finding: Finding, now_s: float) -> list[HeldAlert]:
        """One finding's own alert: opened, updated or resolved."""
        if finding.state == State.RESOLVED:
            held = self.firing.pop(finding.key, None)
            if held is None or not held.posted:
                return []  # never sent on its own (below the threshold, waiting, folded)
            held.annotations = alerts.annotations_of(finding)
            return [self._resolve(held, finding.time_ns / 1e9, now_s)]
        held = self.firing.get(finding.key)
        if held is None and not self._opens(finding):
            return []
        new = HeldAlert(
            kind=finding.kind.value,
            labels=alerts.labels_of(finding, self.config.labels),
            annotations=alerts.annotations_of(finding),
            starts_at_s=finding.time_ns / 1e9 if held is None else held.starts_at_s,
            updated_s=now_s,
            url=alerts.generator_url(self.config.generator_url, finding),
        )
        if held is None:
            if len(self) >= self.config.max_active_alerts:
                self.dropped += 1
                return []
            # a new episode with the labels of one still being resolved supersedes it
            self.resolving.pop(new.fingerprint, None)
            new.incident = self.incident_of.get(finding.key, "")
            if self.grouping and not new.incident and finding.kind != Kind.INCIDENT:
                new.hold_until_s = now_s + self.config.group_wait
            self.firing[finding.key] = new
            return [new] if new.posted else []
        new.incident, new.hold_until_s = held.incident, held.hold_until_s
        self.firing[finding.key] = new
        if not new.posted:
            return []
        if new.labels == held.labels:
            return [new]
        # the label set is the alert's identity: a changed one (severity went up) is a
        # new alert, and the old one is resolved now rather than left to expire
        return [self._resolve(held, finding.time_ns / 1e9, now_s), new]

    def _opens(self, finding: Finding) -> bool:
        """A new alert: at or above its kind's threshold; an incident, when one of its
        members would page on its own (grouping never pages what would not have), or by
        its own severity when ``kinds`` names ``incident``."""
        if finding.kind != Kind.INCIDENT or Kind.INCIDENT in self.config.kinds:
            return finding.severity.rank >= self.config.threshold(finding.kind).rank
        for member in finding.attributes.get("member_findings") or []:
            kind, severity = _kind_and_severity(member)
            if kind in self.config.kinds and severity is not None:
                if severity.rank >= self.config.threshold(kind).rank:
                    return True
        return any(key in self.firing for key in self.members_of.get(finding.key, []))

    def _incident(self, finding: Finding, now_s: float) -> list[HeldAlert]:
        """Fold the incident's members into its alert; let go of those it no longer has."""
        keys = finding.evidence.get("finding_keys") if finding.state != State.RESOLVED else []
        members = [k for k in keys or [] if isinstance(k, str)][:MAX_MEMBERS]
        self._let_go(finding.key, set(members), now_s)
        if members and (
            finding.key in self.members_of or len(self.members_of) < self.config.max_active_alerts
        ):
            self.members_of[finding.key] = members
            for key in members:
                self.incident_of[key] = finding.key
                member = self.firing.get(key)
                if member is not None and member.hold_until_s:  # waiting: folded, not posted
                    member.incident, member.hold_until_s = finding.key, 0.0
        if finding.state == State.RESOLVED:
            self.members_of.pop(finding.key, None)
        return self._episode(finding, now_s)

    def _let_go(self, incident: str, keep: set[str], now_s: float) -> None:
        """Members of ``incident`` not in ``keep`` wait again, then page alone."""
        for key in self.members_of.get(incident, []):
            if key in keep or self.incident_of.get(key) != incident:
                continue
            del self.incident_of[key]
            member = self.firing.get(key)
            if member is not None and member.incident == incident:
                member.incident, member.hold_until_s = "", now_s + self.config.group_wait

    def release(self, now_s: float) -> list[HeldAlert]:
        """Alerts whose ``group_wait`` is over with no incident: posted on their own now."""
        out = []
        for held in self.firing.values():
            if held.hold_until_s and held.hold_until_s <= now_s and not held.incident:
                held.hold_until_s = 0.0
                out.append(held)
        return out

    def next_release_s(self) -> float:
        """When the next waiting alert is due (infinity when none waits)."""
        waiting = [h.hold_until_s for h in self.firing.values() if h.hold_until_s]
        return min(waiting, default=float("inf"))

    def due(self, now_s: float) -> list[HeldAlert]:
        """Alerts to re-send now: the firing, the just expired, the undelivered resolutions."""
        self._expire(now_s)
        horizon = ENDS_AT_RESENDS * self.config.resend_interval
        for fingerprint, held in list(self.resolving.items()):
            if held.updated_s + horizon < now_s:  # Alertmanager has let it expire by now
                del self.resolving[fingerprint]
        return [*(h for h in self.firing.values() if h.posted), *self.resolving.values()]

    def delivered(self, sent: list[HeldAlert]) -> None:
        """Forget resolved alerts once Alertmanager has accepted them."""
        for held in sent:
            if held.ends_at_s is not None and self.resolving.get(held.fingerprint) is held:
                del self.resolving[held.fingerprint]

    def _resolve(self, held: HeldAlert, at_s: float, now_s: float) -> HeldAlert:
        held.ends_at_s = max(at_s, held.starts_at_s)
        held.updated_s = now_s
        self.resolving[held.fingerprint] = held
        return held

    def _expire(self, now_s: float) -> None:
        for key, held in list(self.firing.items()):
            ttl = self._ttl_s.get(held.kind)
            if ttl is not None and held.updated_s + ttl <= now_s:
                del self.firing[key]
                if held.posted:
                    self._resolve(held, now_s, now_s)

    # -- persistence --------------------------------------------------------
    def document(self) -> Any:
        """What the book holds, for the store (:class:`SavedBook` through the codec)."""
        saved = SavedBook(self.firing, list(self.resolving.values()), self.members_of)
        return encode(SavedBook, saved)

    def restore(self, data: Any) -> None:
        """Load what :meth:`document` saved; a malformed body is ignored (stays empty)."""
        if data is None:
            return
        try:
            saved = decode(SavedBook, data)
        except StateError as exc:
            log.warning("saved alerts unreadable, starting empty: %s", exc)
            return
        self.firing = dict(list(saved.firing.items())[: self.config.max_active_alerts])
        self.resolving = {held.fingerprint: held for held in saved.resolving}
        for incident, keys in list(saved.incidents.items())[: self.config.max_active_alerts]:
            members = keys[:MAX_MEMBERS]
            self.members_of[incident] = members
            self.incident_of.update((k, incident) for k in members)


@dataclass
class SavedBook:
    """The alerts an exporter holds across a restart, and each incident's members."""

    firing: dict[str, HeldAlert] = field(default_factory=dict)
    resolving: list[HeldAlert] = field(default_factory=list)
    incidents: dict[str, list[str]] = field(default_factory=dict)


def _kind_and_severity(member: Any) -> tuple[Kind | None, Severity | None]:
    """An incident member's kind and severity, as the incident finding lists them."""
    if not isinstance(member, dict):
        return None, None
    try:
        return Kind(str(member.get("kind"))), Severity(str(member.get("severity")))
    except ValueError:
        return None, None
