"""Span batches through a pipeline, one 10-s interval each, on a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from otel_perf.component import component_type
from otel_perf.config import load_config
from otel_perf.findings import Finding
from otel_perf.model import SpanBatch, SpanRecord
from otel_perf.pipeline import Pipeline
from otel_perf.store import Store

S = 1_000_000_000
START_MS = 1_700_000_000_000.0  # interval ``i`` starts at START_MS + i * 10 s


def feed(
    config: str, intervals: int, spans_of: Callable[[int], list[SpanRecord]]
) -> tuple[list[Finding], dict[str, dict[str, dict[str, Any]]]]:
    """``spans_of(i)`` for each interval ``i``, each followed by a tick just after the
    interval's end; (the findings, the snapshots by component type and id)."""
    pipe = Pipeline(load_config(text=config), Store(":memory:"), clock=lambda: 1)
    pipe.start(worker=False)
    found: list[Finding] = []
    try:
        for i in range(intervals):
            pipe.process(SpanBatch(spans_of(i)))
            found += pipe.tick(int(START_MS * 1_000_000) + (i + 2) * 10 * S + S)
        snapshots: dict[str, dict[str, dict[str, Any]]] = {}
        for pid, snap in pipe.snapshot().items():
            snapshots.setdefault(component_type(pid), {})[pid] = snap
        return found, snapshots
    finally:
        pipe.shutdown()
