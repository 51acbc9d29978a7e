"""The SDK's OTLP exporters, chosen by protocol, behind failure-counting wrappers.

The SDK exporters do the retrying (exponential backoff within ``timeout`` on
retryable codes); the wrappers only see the final result of each export call,
count failures, and can be aborted from another thread to cut retries short.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
    OTLPLogExporter as GrpcLogExporter,
)
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcMetricExporter,
)
from opentelemetry.exporter.otlp.proto.http._log_exporter import (
    OTLPLogExporter as HttpLogExporter,
)
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetricExporter,
)
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData

from otel_perf.exporters.otlp.config import OTLPExporterConfig

OnFailure = Callable[[], None]


def signal_url(base: str, signal: str) -> str:
    """``http://host:4318`` + ``logs`` -> ``http://host:4318/v1/logs``.

    The rule the OTLP spec gives for ``OTEL_EXPORTER_OTLP_ENDPOINT``.
    """
    return base.rstrip("/") + "/v1/" + signal


_SDK_EXPORTERS: dict[tuple[str, str], Any] = {
    ("logs", "grpc"): GrpcLogExporter,
    ("logs", "http/protobuf"): HttpLogExporter,
    ("metrics", "grpc"): GrpcMetricExporter,
    ("metrics", "http/protobuf"): HttpMetricExporter,
}


def _sdk_exporter(config: OTLPExporterConfig, signal: str) -> Any:
    """The SDK's exporter of ``signal`` for ``config.protocol``."""
    make = _SDK_EXPORTERS[(signal, config.protocol)]
    if config.protocol == "grpc":
        return make(
            endpoint=config.endpoint,
            insecure=config.insecure,
            headers=_headers(config, grpc=True),
            timeout=config.timeout,
        )
    return make(
        endpoint=_http_endpoint(config, signal),
        headers=_headers(config, grpc=False),
        timeout=config.timeout,
    )


def log_exporter(config: OTLPExporterConfig, on_failure: OnFailure) -> CountingLogExporter:
    """The SDK log exporter for ``config.protocol``, wrapped to count failures."""
    return CountingLogExporter(_sdk_exporter(config, "logs"), on_failure)


def metric_exporter(config: OTLPExporterConfig, on_failure: OnFailure) -> CountingMetricExporter:
    """The SDK metric exporter for ``config.protocol``, wrapped to count failures."""
    return CountingMetricExporter(_sdk_exporter(config, "metrics"), on_failure)


def _http_endpoint(config: OTLPExporterConfig, signal: str) -> str | None:
    # None lets the SDK resolve OTEL_EXPORTER_OTLP_{,LOGS_,METRICS_}ENDPOINT itself
    return None if config.endpoint is None else signal_url(config.endpoint, signal)


def _headers(config: OTLPExporterConfig, grpc: bool) -> dict[str, str] | None:
    if not config.headers:
        return None  # None, not {}: lets OTEL_EXPORTER_OTLP_HEADERS apply
    # gRPC metadata keys must be lowercase or the call fails
    return {
        (key.lower() if grpc else key): value.get_secret_value()
        for key, value in config.headers.items()
    }


class _Abortable:
    """Shared part of the wrappers: count failures, shut the inner one down once."""

    def __init__(self, inner: Any, on_failure: OnFailure) -> None:
        self._inner = inner
        self._on_failure = on_failure
        self._lock = threading.Lock()
        self._closed = False

    def abort(self) -> None:
        """Shut the inner exporter down now: in-flight retries stop, the channel closes."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._inner.shutdown()

    def _counted(self, call: Callable[[], Any], success: Any) -> Any:
        try:
            result = call()
        except Exception:
            self._on_failure()
            raise
        if result is not success:
            self._on_failure()
        return result


class CountingLogExporter(_Abortable, LogRecordExporter):
    """A log record exporter that counts every export call that did not succeed."""

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        if self._closed:
            self._on_failure()
            return LogRecordExportResult.FAILURE
        result: LogRecordExportResult = self._counted(
            lambda: self._inner.export(batch), LogRecordExportResult.SUCCESS
        )
        return result

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self._inner.force_flush(timeout_millis))

    def shutdown(self) -> None:
        self.abort()


class CountingMetricExporter(_Abortable, MetricExporter):
    """A metric exporter that counts every export call that did not succeed."""

    def __init__(self, inner: MetricExporter, on_failure: OnFailure) -> None:
        _Abortable.__init__(self, inner, on_failure)
        # keep the inner exporter's temporality/aggregation, which the SDK reads
        # from OTEL_EXPORTER_OTLP_METRICS_* variables
        MetricExporter.__init__(
            self,
            preferred_temporality=inner._preferred_temporality,
            preferred_aggregation=inner._preferred_aggregation,
        )

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        if self._closed:
            self._on_failure()
            return MetricExportResult.FAILURE
        result: MetricExportResult = self._counted(
            lambda: self._inner.export(metrics_data, timeout_millis=timeout_millis),
            MetricExportResult.SUCCESS,
        )
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return bool(self._inner.force_flush(timeout_millis=timeout_millis))

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.abort()
