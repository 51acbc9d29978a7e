"""Settings of the ``capacity`` processor."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field, field_validator, model_validator

from otel_perf.component import ComponentConfig
from otel_perf.config.types import Duration

Aggregation = Literal["avg", "max", "min", "sum", "last", "p50", "p90", "p95", "p99"]
ResourceKind = Literal["cpu", "memory", "requests", "other"]

_QUANTITY = re.compile(r"^\s*(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*([a-zA-Z]*)\s*$")
_SUFFIX = {
    "": 1.0,
    "m": 1e-3,
    "k": 1e3,
    "K": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
}


def parse_quantity(value: Any) -> float:
    """A Kubernetes-style quantity: ``0.5``, ``"500m"`` (cores), ``"512Mi"``, ``"2G"``.

    Raises:
        ValueError: ``expected a quantity like "500m" or "512Mi", got "lots"``.
    """
    if isinstance(value, bool):
        raise ValueError(f'expected a quantity like "500m" or "512Mi", got {value!r}')
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"expected a non-negative quantity, got {value}")
        return float(value)
    if isinstance(value, str):
        match = _QUANTITY.match(value)
        if match and match.group(2) in _SUFFIX:
            return float(match.group(1)) * _SUFFIX[match.group(2)]
    raise ValueError(f'expected a quantity like "500m" or "512Mi", got "{value}"')


#: cores or bytes, written as Kubernetes quantities ("500m", "512Mi") or plain numbers
Quantity = Annotated[float, BeforeValidator(parse_quantity)]


class ResourceRule(ComponentConfig):
    """``resources.<name>``: a metric recorded as the usage of resource ``<name>``.

    Attributes:
        metric: the received metric's name.
        attributes: only points carrying all these attribute values.
        service: only points from this ``service.name`` (default: every service, merged).
        aggregation: how the points of one timestamp combine (several attribute sets).
        kind: cpu, memory, requests or other (picks right-sizing and cost).
        unit: ``1`` (utilization), ``{cpu}`` (cores), ``By`` (bytes), ``1/s`` or anything.
        thresholds: absolute values, in the metric's unit, whose crossing is forecast.
    """

    metric: str
    attributes: dict[str, str] = Field(default_factory=dict)
    service: str | None = None
    aggregation: Aggregation = "avg"
    kind: ResourceKind = "other"
    unit: str = ""
    thresholds: list[float] = Field(default_factory=list)


class Amounts(ComponentConfig):
    """CPU cores and memory bytes (``{cpu: 0.5, memory: 512Mi}``)."""

    cpu: Quantity | None = None
    memory: Quantity | None = None


class ReplicaSettings(ComponentConfig):
    """``replicas.<service>``: how many replicas run and what one of them can serve.

    Attributes:
        count: replicas running now.
        capacity_rps: requests per second one replica handles at full load.
        schedule: replicas recommended per hour of day (24 values, e.g. from the
            autoscaling recommendation); gives the saving against ``count`` all day.
    """

    count: int = Field(default=1, ge=1)
    capacity_rps: float | None = Field(default=None, gt=0)
    schedule: list[int] = Field(default_factory=list)

    @field_validator("schedule")
    @classmethod
    def _day(cls, value: list[int]) -> list[int]:
        if value and (len(value) != 24 or min(value) < 0):
            raise ValueError(f"expected 24 non-negative replica counts, got {value}")
        return value


class CostPrices(ComponentConfig):
    """Unit prices (any currency): per vCPU-hour, per GiB-hour, per replica-hour."""

    vcpu_hour: float = Field(default=0.0, ge=0)
    gib_hour: float = Field(default=0.0, ge=0)
    replica_hour: float = Field(default=0.0, ge=0)
    currency: str = "USD"


def _listed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: [v] if isinstance(v, int | float) else v for k, v in value.items()}
    return value


class CapacityConfig(ComponentConfig):
    """``processors.capacity``.

    Attributes:
        history_window: how far back hourly history is kept and used.
        forecast_window: how far ahead forecasts reach.
        forecast_interval: least event time between two forecasts of one resource.
        min_history: history a resource needs before it is forecast.
        level: nominal coverage of the prediction intervals.
        thresholds: per kind, fractions of capacity whose crossing is forecast: of 1 for
            utilization series, of the limit for cores/bytes series, of replicas × capacity_rps
            for request rates (``requests`` has none by default).
        builtin_metrics: record the known CPU and memory metrics (hostmetrics, container, k8s).
        request_rate: record requests per second per service (``<service>/request.rate``) from
            span metrics: entry spans (SERVER and CONSUMER) only, not the calls they make.
        resources: more metrics to record, by resource name.
        requests / limits: per service (or ``"*"``), the CPU cores and memory bytes requested
            and allowed; right-sizing compares against the requests.
        capacity: per service (or ``"*"``), the cores and bytes a utilization of 1 means,
            to turn utilization into cores and bytes for right-sizing and cost.
        replicas: per service, replicas running and per-replica capacity.
        cost: unit prices; without them no cost is computed.
        margin: safety margin added to the right-sizing percentiles (VPA's 15 %).
        target_percentile / lower_percentile / upper_percentile: right-sizing percentiles.
        critical_within: a threshold crossing sooner than this is critical.
        quiet_period: an unchanged finding is announced again after this long.
        max_resources: resources recorded; the rest are counted as dropped.
        raw_retention / fine_retention: how long raw samples and 5-minute buckets are kept.
        raw_min_interval: raw samples closer than this to the last kept one are only rolled up.
        max_pending: rows waiting for the next flush; beyond it samples are dropped (counted).
        max_forecasts_per_tick: forecasts computed per tick; the rest wait for the next tick.
        timezone: IANA zone for peak hours and weekdays.
    """

    history_window: Duration = 90 * 86400.0
    forecast_window: Duration = 30 * 86400.0
    forecast_interval: Duration = 300.0
    min_history: Duration = 6 * 3600.0
    level: float = Field(default=0.9, gt=0, lt=1)
    thresholds: Annotated[dict[str, list[float]], BeforeValidator(_listed)] = Field(
        default_factory=lambda: {"cpu": [0.7], "memory": [0.8]}
    )
    builtin_metrics: bool = True
    request_rate: bool = True
    resources: dict[str, ResourceRule] = Field(default_factory=dict)
    requests: dict[str, Amounts] = Field(default_factory=dict)
    limits: dict[str, Amounts] = Field(default_factory=dict)
    capacity: dict[str, Amounts] = Field(default_factory=dict)
    replicas: dict[str, ReplicaSettings] = Field(default_factory=dict)
    cost: CostPrices | None = None
    margin: float = Field(default=0.15, ge=0)
    target_percentile: float = Field(default=0.9, gt=0, le=1)
    lower_percentile: float = Field(default=0.5, gt=0, le=1)
    upper_percentile: float = Field(default=0.95, gt=0, le=1)
    critical_within: Duration = 7 * 86400.0
    quiet_period: Duration = 86400.0
    max_resources: int = Field(default=1000, gt=0)
    raw_retention: Duration = 2 * 86400.0
    fine_retention: Duration = 14 * 86400.0
    raw_min_interval: Duration = 10.0
    max_pending: int = Field(default=100_000, gt=0)
    max_forecasts_per_tick: int = Field(default=50, gt=0)
    timezone: str = "UTC"

    @field_validator("thresholds")
    @classmethod
    def _fractions(cls, value: dict[str, list[float]]) -> dict[str, list[float]]:
        bad = [f"{k}: {v}" for k, vs in value.items() for v in vs if not 0 < v <= 10]
        if bad:
            raise ValueError(
                f"thresholds are fractions of capacity (0.7 for 70 %) in (0, 10], got {bad}"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f'unknown time zone "{value}" (expected an IANA name)') from None
        return value

    @model_validator(mode="after")
    def _windows(self) -> CapacityConfig:
        if self.forecast_interval <= 0 or self.forecast_window < 3600:
            raise ValueError("forecast_window must be at least 1h and forecast_interval > 0")
        if not self.lower_percentile <= self.target_percentile <= self.upper_percentile:
            raise ValueError("expected lower_percentile <= target_percentile <= upper_percentile")
        if self.fine_retention > self.history_window or self.raw_retention > self.fine_retention:
            raise ValueError("expected raw_retention <= fine_retention <= history_window")
        return self

    def amounts(self, table: dict[str, Amounts], service: str) -> Amounts:
        """The entry for ``service``, else the ``"*"`` entry, else nothing."""
        return table.get(service) or table.get("*") or Amounts()
