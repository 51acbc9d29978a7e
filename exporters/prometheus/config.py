"""Settings of the ``prometheus`` exporter."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from otel_perf.component import ComponentConfig
from otel_perf.config.types import Endpoint

#: classic-histogram bucket bounds (seconds) for the span duration histograms
DEFAULT_BUCKETS_S = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
MAX_BUCKETS = 64
_NAMESPACE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


class PrometheusExporterConfig(ComponentConfig):
    """``exporters.prometheus``: otel-perf's metrics on a Prometheus scrape endpoint.

    Attributes:
        endpoint: ``host:port`` the ``/metrics`` endpoint listens on; loopback by
            default. Port 0 picks a free port.
        namespace: prefix of every metric name (``<namespace>_otel_perf_...``).
        max_series_per_metric: series one metric may expose; later series are left
            out of the scrape and counted in ``otel_perf_prometheus_series_dropped_total``.
        resource_to_telemetry_conversion: copy the resource attributes (``service.name:
            otel-perf`` and ``resource``) onto every series as labels, as the Collector's
            option of that name does; a data point's own attribute of the same name wins.
        span_metrics: also expose span metrics (calls counter, duration histogram).
        histogram_buckets: upper bounds (seconds) of the classic duration histogram.
        max_open_findings: open findings published as ``otel_perf.finding.open`` /
            ``.impact`` gauges at most (more are left out).
        resource: resource attributes added to ``service.name: otel-perf`` (``target_info``).
    """

    endpoint: Endpoint = "127.0.0.1:9464"
    namespace: str | None = None
    max_series_per_metric: int = Field(default=10_000, gt=0)
    max_open_findings: int = Field(default=1000, gt=0)
    resource_to_telemetry_conversion: bool = False
    span_metrics: bool = True
    histogram_buckets: tuple[float, ...] = DEFAULT_BUCKETS_S
    resource: dict[str, str] = {}

    @field_validator("namespace")
    @classmethod
    def _check_namespace(cls, value: str | None) -> str | None:
        if value is not None and not _NAMESPACE.fullmatch(value):
            raise ValueError(
                f'must be a Prometheus name prefix like "shop" ([a-zA-Z_][a-zA-Z0-9_]*), '
                f'got "{value}"'
            )
        return value

    @field_validator("histogram_buckets")
    @classmethod
    def _check_buckets(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or len(value) > MAX_BUCKETS:
            raise ValueError(f"must hold 1 to {MAX_BUCKETS} bounds, got {len(value)}")
        if any(b <= 0 or b != b or b == float("inf") for b in value):
            raise ValueError(f"bounds must be positive finite seconds, got {list(value)}")
        if any(a >= b for a, b in zip(value, value[1:], strict=False)):
            raise ValueError(f"bounds must be strictly increasing, got {list(value)}")
        return value
