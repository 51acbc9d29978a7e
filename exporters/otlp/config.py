"""Settings of the ``otlp`` exporter."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from otel_perf.component import ComponentConfig
from otel_perf.config.types import Duration, Secret


class OTLPExporterConfig(ComponentConfig):
    """``exporters.otlp``: findings as OTel events and pipeline metrics over OTLP.

    Attributes:
        endpoint: where to send. gRPC: ``http://host:4317`` (plaintext) or
            ``https://host:4317``; HTTP: the base URL ``http://host:4318``, to
            which ``/v1/logs`` and ``/v1/metrics`` are appended. Unset: the
            standard ``OTEL_EXPORTER_OTLP_*`` environment variables apply.
        protocol: ``grpc`` or ``http/protobuf``.
        headers: sent with every export (e.g. an API key); never printed.
        insecure: gRPC only; plaintext when true. Unset: from the endpoint's
            scheme or ``OTEL_EXPORTER_OTLP_INSECURE``.
        timeout: budget of one export including retries, and of shutdown.
        metrics_interval: how often metrics are collected and exported.
        events: export findings as log records (events).
        metrics: export the ``otel_perf.*`` metrics.
        span_metrics: with ``metrics``, also export span metrics
            (``traces.span.metrics.calls`` and ``.duration``) per closed interval.
        max_open_findings: open findings published as ``otel_perf.finding.open`` /
            ``.impact`` gauges at most (more are left out).
        resource: resource attributes added to ``service.name: otel-perf``.
    """

    endpoint: str | None = None
    protocol: Literal["grpc", "http/protobuf"] = "grpc"
    headers: dict[str, Secret] = {}
    insecure: bool | None = None
    timeout: Duration = 10.0
    metrics_interval: Duration = 10.0
    events: bool = True
    metrics: bool = True
    span_metrics: bool = True
    resource: dict[str, str] = {}
    max_open_findings: int = Field(default=1000, gt=0)

    @model_validator(mode="after")
    def _check(self) -> OTLPExporterConfig:
        if not (self.events or self.metrics):
            raise ValueError("events and metrics are both off: nothing to export")
        if self.timeout <= 0 or self.metrics_interval <= 0:
            raise ValueError("timeout and metrics_interval must be positive durations")
        if (
            self.protocol == "http/protobuf"
            and self.endpoint is not None
            and not self.endpoint.startswith(("http://", "https://"))
        ):
            raise ValueError(
                f'http/protobuf needs a URL like "http://host:4318", got "{self.endpoint}"'
            )
        return self
