"""The anomaly processor's health check (contributed through its factory's surface):
an open anomaly episode of severity critical → degraded."""

from __future__ import annotations

from otel_perf.findings import Kind, Severity
from otel_perf.recommend.health import HealthInputs, Reason, open_findings


def anomaly_health(inputs: HealthInputs) -> list[Reason]:
    """Open episodes any of whose findings was critical (an episode is its key and start)."""
    critical = {
        (f.key, f.attributes.get("start_ns"))
        for f in inputs.findings
        if f.kind == Kind.ANOMALY_DETECTED and f.severity == Severity.CRITICAL
    }
    return [
        Reason("anomaly", "degraded", f"critical anomaly in {f.service}: {f.summary}")
        for f in open_findings(inputs)
        if f.kind == Kind.ANOMALY_DETECTED and (f.key, f.attributes.get("start_ns")) in critical
    ]
