"""Settings of the ``anomaly`` processor."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from otel_perf.component import ComponentConfig
from otel_perf.config.types import Duration

Sensitivity = Literal["low", "medium", "high"]
Direction = Literal["up", "down", "both"]

#: metric name parts of I/O series, judged with the ``robust`` settings by default
IO_SERIES = ("disk", "network", "blockio")

#: metric name parts of CPU series, judged with the ``robust`` settings by default too
CPU_SERIES = ("cpu",)

#: score thresholds for the named sensitivities (higher sensitivity, lower threshold)
SENSITIVITY_SHIFT = {"low": 0.5, "medium": 0.0, "high": -0.5}


class SeriesRule(ComponentConfig):
    """Settings for the series whose name matches ``match`` (fnmatch pattern)."""

    match: str
    sensitivity: Sensitivity | None = None
    threshold: float | None = Field(default=None, gt=0, lt=1)
    direction: Direction | None = None
    warm_up: int | None = Field(default=None, ge=0)
    robust: bool | None = None


class AnomalyConfig(ComponentConfig):
    """``processors.anomaly``.

    Attributes:
        include / exclude: fnmatch patterns on series names (``span.p95_ms{checkout,GET /}``,
            ``metric:system.cpu.utilization{...}``); exclude wins.
        span_signals: which span-metrics series to watch per service and operation.
        sensitivity: default sensitivity (or an explicit ``threshold`` per rule).
        direction: which way is bad by default; latency and errors up, throughput both.
        rules: per-pattern overrides, first match wins.
        warm_up: points per series before it may raise anomalies.
        resolve_after: consecutive normal points that end an episode.
        max_series: series tracked; the rest are counted.
        save_interval: how often (event time) detector state is written to the store.
        history_points: scored points kept per series (value, expected band, score) for the
            snapshot and the dashboard; memory is bounded by ``max_series × history_points``.
        robust: judge series as bursty telemetry (``detector.robust``): spikes a series shows
            often are no news, bursts do not drag the forecasts. Off by default (it costs 16
            NAB points on real series); the default rules turn it on for I/O and CPU series
            only.
    """

    include: list[str] = ["*"]
    exclude: list[str] = []
    span_signals: list[Literal["rate", "error_ratio", "p50_ms", "p95_ms", "p99_ms"]] = [
        "rate",
        "error_ratio",
        "p95_ms",
    ]
    sensitivity: Sensitivity = "medium"
    direction: Direction = "both"
    rules: list[SeriesRule] = [
        SeriesRule(match="span.p*_ms*", direction="up"),
        SeriesRule(match="span.error_ratio*", direction="up"),
        # disk and network I/O burst by nature (hostmetrics, container and k8s stats)
        *(SeriesRule(match=f"metric:*.{io}.*", robust=True) for io in IO_SERIES),
        # CPU runs recurring batch jobs and cron: the daily profile knows them, the EWMA not
        *(SeriesRule(match=f"metric:*.{cpu}.*", robust=True) for cpu in CPU_SERIES),
    ]
    warm_up: int = Field(default=1440, ge=0)
    resolve_after: int = Field(default=3, ge=1)
    max_series: int = Field(default=10_000, gt=0)
    save_interval: Duration = Field(default=300.0, gt=0)
    history_points: int = Field(default=120, gt=0, le=10_000)
    robust: bool = False

    @model_validator(mode="after")
    def _patterns(self) -> AnomalyConfig:
        if not self.include:
            raise ValueError("include must name at least one pattern (use '*' for everything)")
        return self
