"""The capacity processor's health check (contributed through its factory's surface): a
critical capacity forecast open (a threshold crossing within the processor's
``critical_within``, 7 days by default) → degraded."""

from __future__ import annotations

from otel_perf.findings import Kind, Severity
from otel_perf.recommend.health import HealthInputs, Reason, open_findings


def capacity_health(inputs: HealthInputs) -> list[Reason]:
    return [
        Reason("capacity", "degraded", f.summary)
        for f in open_findings(inputs)
        if f.kind == Kind.CAPACITY_FORECAST and f.severity == Severity.CRITICAL
    ]
