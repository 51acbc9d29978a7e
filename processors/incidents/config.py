"""Settings of the ``incidents`` processor."""

from __future__ import annotations

from pydantic import Field

from otel_perf.component import ComponentConfig
from otel_perf.config.types import Duration


class IncidentsConfig(ComponentConfig):
    """``processors.incidents``.

    Attributes:
        overlap: two findings are correlated only when their episodes (first seen to last
            reported) come within this much event time of each other.
        lookback: stored findings newer than this (before ``now``) are read each tick.
        max_findings: at most this many stored findings are read each tick (newest first).
        max_open: open incidents kept; groups past it (least impact first) are counted in
            ``overflowed`` and left out.
        max_recent: resolved incidents kept for ``/performance/incidents``.
        max_calls: calls (caller route → peer) learned from spans, and services seen
            serving, kept for the call graph; more are counted in ``overflowed``.
        refresh: with no new finding and no new call, the grouping is redone this often
            (event time) only, so findings age out; otherwise a tick reads one row.
    """

    overlap: Duration = 900.0
    lookback: Duration = 86_400.0
    max_findings: int = Field(default=2000, gt=0)
    max_open: int = Field(default=200, gt=0)
    max_recent: int = Field(default=100, ge=0)
    max_calls: int = Field(default=10_000, gt=0)
    refresh: Duration = 60.0
