"""Settings of the ``aggregates`` processor (the analysis tier's intake)."""

from __future__ import annotations

from pydantic import Field

from otel_perf.component import ComponentConfig
from otel_perf.config.types import Duration


class AggregatesConfig(ComponentConfig):
    """``processors.aggregates``: merge the trace tier's ``otlp_aggregates`` exactly.

    Attributes:
        expected_instances: trace-tier instances whose watermarks close an interval; it
            closes as soon as that many instances have reported a watermark at or past
            its end, else ``grace`` after its end (event time) with what arrived.
        grace: how long after its end an interval waits for missing instances; keep it
            above the trace tier's ``late_grace`` plus the export delay.
        max_instances: distinct instance names tracked (wire data: bounded, counted).
        max_open_intervals: intervals open at once; past it the oldest closes early.
        max_series: series per interval; the rest are counted in ``overflowed``.
        bottleneck_windows: closed bottlenecks windows the ranking covers (a single
            instance ranks its last closed window and the one filling: 2).
        max_operations: operations per bottlenecks window.
        save_interval: event time between writes of the open intervals, watermarks,
            rollups and windows to the store (and at shutdown).
    """

    expected_instances: int = Field(default=1, ge=1)
    grace: Duration = 30.0
    max_instances: int = Field(default=256, gt=0)
    max_open_intervals: int = Field(default=64, gt=0)
    max_series: int = Field(default=100_000, gt=0)
    bottleneck_windows: int = Field(default=2, ge=1, le=60)
    max_operations: int = Field(default=10_000, gt=0)
    save_interval: Duration = 10.0
