"""What the spanmetrics processor adds to the API: RED per service and operation in
``/performance/metrics``."""

from __future__ import annotations

from typing import Any

from otel_perf.component import PipelineView, Surface


def red_metrics(pipeline: PipelineView, service: str | None, limit: int) -> dict[str, Any]:
    """``red``: the first ``limit`` rows of each ``spanmetrics`` processor (of ``service``
    only, when given); ``spanmetrics``: the rest of each one's snapshot, by id."""
    body: dict[str, Any] = {}
    for pid, snap in pipeline.snapshot("spanmetrics").items():
        rows = [r for r in snap.get("red", []) if not service or r["service"] == service]
        body.setdefault("red", []).extend(rows[:limit])
        body.setdefault("spanmetrics", {})[pid] = {k: v for k, v in snap.items() if k != "red"}
    return body


SURFACE = Surface(metrics=red_metrics)
