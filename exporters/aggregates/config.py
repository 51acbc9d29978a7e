"""Settings of the ``otlp_aggregates`` exporter (the trace tier's output)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from otel_perf.component import ComponentConfig
from otel_perf.config.types import Duration


class AggregatesExporterConfig(ComponentConfig):
    """``exporters.otlp_aggregates``: closed span-metrics intervals and bottlenecks windows
    as exact OTLP metrics to the analysis tier.

    Attributes:
        endpoint: the analysis tier's OTLP receiver: ``host:port`` for gRPC, a base URL
            ``http://host:4318`` for HTTP (``/v1/metrics`` is appended).
        protocol: ``grpc`` or ``http/protobuf``.
        instance: this trace-tier instance's name, unique in the tier (the analysis tier
            waits for every expected instance before closing an interval). In Kubernetes
            the pod name (``${env:POD_NAME}``).
        timeout: one attempt's timeout.
        max_attempts: attempts per request (retryable failures: unavailable, 429, 5xx,
            connection errors), with exponential backoff from ``backoff`` up to
            ``max_backoff``.
        max_queue: requests waiting to be sent; past it the oldest is dropped (counted).
    """

    endpoint: str = Field(min_length=1)
    protocol: Literal["grpc", "http/protobuf"] = "grpc"
    instance: str = Field(min_length=1)
    timeout: Duration = 5.0
    max_attempts: int = Field(default=5, ge=1, le=100)
    backoff: Duration = 0.2
    max_backoff: Duration = 5.0
    max_queue: int = Field(default=1000, gt=0)

    @model_validator(mode="after")
    def _check(self) -> AggregatesExporterConfig:
        if self.protocol == "http/protobuf" and not self.endpoint.startswith(
            ("http://", "https://")
        ):
            raise ValueError(
                f'http/protobuf needs a URL like "http://host:4318", got "{self.endpoint}"'
            )
        if self.protocol == "grpc" and "://" in self.endpoint:
            raise ValueError(f'grpc needs "host:port" like "127.0.0.1:4317", got "{self.endpoint}"')
        if self.timeout <= 0:
            raise ValueError("timeout must be a positive duration")
        return self
