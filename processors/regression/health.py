"""The regression processor's health check (contributed through its factory's surface):
a regression detected within ``REGRESSION_WINDOW_NS`` (24 h of event time) of the newest
finding → degraded."""

from __future__ import annotations

from otel_perf.findings import Kind
from otel_perf.recommend.current import now_of
from otel_perf.recommend.health import HealthInputs, Reason, open_findings

NS = 1_000_000_000
REGRESSION_WINDOW_NS = 24 * 3600 * NS


def regression_health(inputs: HealthInputs) -> list[Reason]:
    now = now_of(inputs.findings, inputs.snapshots)
    return [
        Reason("regression", "degraded", f"regression in {f.service}: {f.summary}")
        for f in open_findings(inputs)
        if f.kind == Kind.REGRESSION_DETECTED and now - f.time_ns <= REGRESSION_WINDOW_NS
    ]
