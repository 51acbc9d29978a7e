"""One typed model for everything otel-perf concludes.

Every surface (OTel events and metrics, the store, the REST API, the CLI)
renders these same records.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Kind(StrEnum):
    """The finding kinds the product emits (also the event names' suffixes)."""

    BOTTLENECK_IDENTIFIED = "bottleneck_identified"
    SLO_VIOLATION = "slo_violation"
    BURN_RATE_ALERT = "burn_rate_alert"
    ANOMALY_DETECTED = "anomaly_detected"
    REGRESSION_DETECTED = "regression_detected"
    IMPROVEMENT_DETECTED = "improvement_detected"
    CAPACITY_FORECAST = "capacity_forecast"
    RECOMMENDATION = "recommendation"
    SLOW_QUERY = "slow_query"
    N_PLUS_ONE = "n_plus_one"
    SLOW_REQUEST = "slow_request"
    INCIDENT = "incident"


class Severity(StrEnum):
    """Ordered from least to most urgent."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)

    @property
    def severity_number(self) -> int:
        """The OTel log SeverityNumber used when the finding is exported as an event."""
        return {"info": 9, "warning": 13, "critical": 17}[self.value]


class State(StrEnum):
    """Findings about an episode (an anomaly, a burn) open, update and resolve."""

    OPEN = "open"
    UPDATED = "updated"
    RESOLVED = "resolved"


EVENT_PREFIX = "otel_perf."


class Finding(BaseModel):
    """A conclusion drawn from telemetry.

    Attributes:
        kind: what was found (``Kind``); the OTel event name is ``otel_perf.<kind>``.
        severity: info, warning or critical.
        service: the ``service.name`` it is about.
        subject: what within the service (an operation, an objective, a series).
        time_ns: event time the finding refers to (telemetry time, not wall time).
        summary: one line a person can read.
        attributes: typed details (numbers, names) for machines.
        evidence: exemplar trace ids and similar pointers into the raw data.
        source: the component id that produced it (``slo/checkout``).
        state: open / updated / resolved for episode-style findings.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Kind
    severity: Severity
    service: str
    subject: str
    time_ns: int
    summary: str
    attributes: dict[str, Any] = Field(default_factory=dict)
    evidence: dict[str, Any] = Field(default_factory=dict)
    source: str = ""
    state: State = State.OPEN

    @property
    def event_name(self) -> str:
        return EVENT_PREFIX + self.kind.value

    @property
    def key(self) -> str:
        """Stable identity of the episode: same kind, service, subject and source."""
        raw = "\x1f".join((self.kind.value, self.service, self.subject, self.source))
        return hashlib.sha1(raw.encode()).hexdigest()[:16]

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def flat_attributes(self) -> dict[str, str | int | float | bool]:
        """Finding fields as OTel attributes under the otel_perf.* namespace."""
        out: dict[str, str | int | float | bool] = {
            "otel_perf.finding.kind": self.kind.value,
            "otel_perf.finding.severity": self.severity.value,
            "otel_perf.finding.subject": self.subject,
            "otel_perf.finding.state": self.state.value,
            "otel_perf.finding.key": self.key,
            "otel_perf.finding.source": self.source,
            "service.name": self.service,
        }
        for prefix, mapping in (
            ("otel_perf.attr.", self.attributes),
            ("otel_perf.evidence.", self.evidence),
        ):
            for name, value in mapping.items():
                out[prefix + name] = _attribute_value(value)
        return out


def _attribute_value(value: Any) -> str | int | float | bool:
    if isinstance(value, bool | int | float | str):
        return value
    return json.dumps(value, sort_keys=True, default=str)
