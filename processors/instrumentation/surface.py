"""What the instrumentation processor adds to the API, the CLI and recommendations: its
per-service view in ``/performance/metrics``, ``instrumentation``, its rule."""

from __future__ import annotations

from typing import Any

from otel_perf.component import PipelineView, Surface
from otel_perf.processors.instrumentation.cli import add_parsers
from otel_perf.processors.instrumentation.recommend import RULES


def instrumentation_metrics(
    pipeline: PipelineView, service: str | None, limit: int
) -> dict[str, Any]:
    """``instrumentation``: the per-service view of an ``instrumentation`` processor (the
    last one, when several run), of ``service`` only or the first ``limit`` services."""
    body: dict[str, Any] = {}
    for snap in pipeline.snapshot("instrumentation").values():
        body["instrumentation"] = instrumentation_view(snap, service, limit)
    return body


def instrumentation_view(snap: dict[str, Any], service: str | None, limit: int) -> dict[str, Any]:
    """The instrumentation processor's per-service view, of one service or the first
    ``limit`` services."""
    services = {
        name: row
        for name, row in snap.get("services", {}).items()
        if not service or name == service
    }
    return {**snap, "services": dict(list(services.items())[:limit])}


#: the OpenAPI property of ``instrumentation`` in ``/performance/metrics``
METRICS_SCHEMA = {
    "instrumentation": {
        "type": "object",
        "description": "with the instrumentation processor: window_s; services: per "
        "service signals and spans ({count, first_ns, last_ns} per signal and span kind), "
        "missing span kinds, verdict {state: ok|gap|unknown, text, ...}; limit; overflowed "
        "per signal",
    }
}

SURFACE = Surface(
    cli=add_parsers,
    recommendations=RULES,
    metrics=instrumentation_metrics,
    metrics_schema=METRICS_SCHEMA,
)
