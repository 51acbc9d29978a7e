"""The alerts an exporter holds: firing ones to re-send, resolved ones not yet delivered.

Pure state: every method takes ``now_s`` (wall-clock seconds) and returns the
alerts to post; the exporter's worker thread owns the only instance.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from otel_perf.exporters.alertmanager import alerts
from otel_perf.exporters.alertmanager.config import AlertmanagerConfig
from otel_perf.findings import Finding, State

#: Prometheus sends endsAt = now + 4 × resend interval on every firing alert
ENDS_AT_RESENDS = 4


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

    def __len__(self) -> int:
        return len(self.firing) + len(self.resolving)

    def apply(self, finding: Finding, now_s: float) -> list[HeldAlert]:
        """Take one finding; returns the alerts whose new state must be posted now."""
        if finding.state == State.RESOLVED:
            held = self.firing.pop(finding.key, None)
            if held is None:
                return []  # never sent as firing (below min_severity, or before a restart)
            held.annotations = alerts.annotations_of(finding)
            return [self._resolve(held, finding.time_ns / 1e9, now_s)]
        held = self.firing.get(finding.key)
        if held is None and finding.severity.rank < self.config.threshold(finding.kind).rank:
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
            self.firing[finding.key] = new
            return [new]
        self.firing[finding.key] = new
        if new.labels == held.labels:
            return [new]
        # the label set is the alert's identity: a changed one (severity went up) is a
        # new alert, and the old one is resolved now rather than left to expire
        return [self._resolve(held, finding.time_ns / 1e9, now_s), new]

    def due(self, now_s: float) -> list[HeldAlert]:
        """Alerts to re-send now: the firing, the just expired, the undelivered resolutions."""
        self._expire(now_s)
        horizon = ENDS_AT_RESENDS * self.config.resend_interval
        for fingerprint, held in list(self.resolving.items()):
            if held.updated_s + horizon < now_s:  # Alertmanager has let it expire by now
                del self.resolving[fingerprint]
        return [*self.firing.values(), *self.resolving.values()]

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
                self._resolve(held, now_s, now_s)

    # -- persistence --------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "firing": {key: asdict(held) for key, held in self.firing.items()},
            "resolving": [asdict(held) for held in self.resolving.values()],
        }

    def restore(self, data: Any) -> None:
        """Load what ``to_dict`` saved; a malformed body is ignored (returns to empty)."""
        if not isinstance(data, dict):
            return
        try:
            firing = {key: HeldAlert(**body) for key, body in data.get("firing", {}).items()}
            resolving = [HeldAlert(**body) for body in data.get("resolving", [])]
        except (TypeError, AttributeError):
            return
        self.firing = dict(list(firing.items())[: self.config.max_active_alerts])
        self.resolving = {held.fingerprint: held for held in resolving}
