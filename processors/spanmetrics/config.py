"""Settings of the ``spanmetrics`` processor."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from otel_perf.component import ComponentConfig
from otel_perf.config.types import Duration

DEFAULT_DIMENSIONS = ["http.route", "http.request.method", "rpc.method"]


class SpanMetricsConfig(ComponentConfig):
    """``processors.spanmetrics``: RED metrics per service and operation.

    Attributes:
        interval: the base aggregation interval; must divide one minute evenly.
        dimensions: span attributes added to the series key (old semantic-convention
            names are read as fallbacks: http.method for http.request.method, ...).
        max_series_per_service: series per service before new ones go to that
            service's overflow series (``otel.metric.overflow=true``).
        max_services: distinct services before new ones share an overflow service.
        max_series: series in all before a new one goes to its service's overflow series
            (counted in ``overflowed_spans``): what bounds memory, as the two limits above
            multiplied allow a million.
        late_grace: how long after its end an interval stays open for late spans.
        memory_horizon: how much closed base-interval history is kept in memory.
        retention_1m / retention_1h: how long rollups stay in the store.
        api_window: the window the API's rate, error ratio and quantiles cover.
        resource_dimensions: resource attributes added to the series key (the trace
            tier keys by ``service.version`` so the analysis tier can compare versions).
        latency_thresholds: durations at which each series also counts its calls exactly
            (``duration <= threshold``), so SLOs computed from the aggregates elsewhere
            match SLOs counted from spans (a histogram alone interpolates inside a bucket).
    """

    interval: Duration = 10.0
    dimensions: list[str] = Field(default_factory=lambda: list(DEFAULT_DIMENSIONS))
    max_series_per_service: int = Field(default=1000, gt=0)
    max_services: int = Field(default=1000, gt=0)
    max_series: int = Field(default=50_000, gt=0)
    late_grace: Duration = 10.0
    memory_horizon: Duration = 60.0
    retention_1m: Duration = 7 * 86400.0
    retention_1h: Duration = 90 * 86400.0
    api_window: Duration = 60.0
    resource_dimensions: list[str] = []
    latency_thresholds: list[Duration] = Field(default_factory=list, max_length=32)

    @field_validator("interval")
    @classmethod
    def _divides_a_minute(cls, value: float) -> float:
        if value < 1 or 60 % value:
            raise ValueError(
                f"must divide 60s evenly (1s, 2s, 5s, 10s, 15s, 20s, 30s, 60s), got {value:g}s"
            )
        return value

    @model_validator(mode="after")
    def _windows(self) -> SpanMetricsConfig:
        if self.api_window < self.interval or self.memory_horizon < self.api_window:
            raise ValueError("need interval <= api_window <= memory_horizon")
        return self
