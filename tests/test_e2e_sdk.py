"""A real OTel SDK exports traces, metrics and logs to otel-perf running as its own process,
over gRPC and over HTTP; everything sent is counted in /performance/metrics."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from e2e import SidecarProcess, start_sidecar
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

pytestmark = pytest.mark.e2e


class Counting:
    """Wraps an SDK exporter and counts the items it delivered successfully."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.sent = 0

    def export(self, items: Any, *args: Any, **kwargs: Any) -> Any:
        result = self.inner.export(items, *args, **kwargs)
        if result.name == "SUCCESS":
            self.sent += self._count(items)
        return result

    def _count(self, items: Any) -> int:
        if hasattr(items, "resource_metrics"):
            return sum(
                len(m.data.data_points)
                for rm in items.resource_metrics
                for sm in rm.scope_metrics
                for m in sm.metrics
            )
        return len(items)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, *args: Any, **kwargs: Any) -> None:
        self.inner.shutdown()


class CountingSpans(Counting, SpanExporter):
    def export(self, spans: Sequence[Any]) -> SpanExportResult:  # type: ignore[override]
        return Counting.export(self, spans)  # type: ignore[no-any-return]


class CountingLogs(Counting, LogRecordExporter):
    pass


class CountingMetrics(Counting, MetricExporter):
    def __init__(self, inner: Any) -> None:
        Counting.__init__(self, inner)
        MetricExporter.__init__(
            self,
            preferred_temporality=inner._preferred_temporality,
            preferred_aggregation=inner._preferred_aggregation,
        )


def exporters(protocol: str, sidecar: SidecarProcess) -> tuple[Any, Any, Any]:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        kw: dict[str, Any] = {"endpoint": sidecar.grpc_endpoint, "insecure": True}
        return OTLPSpanExporter(**kw), OTLPMetricExporter(**kw), OTLPLogExporter(**kw)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HL
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HM
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HS

    base = sidecar.http_url
    return (
        HS(endpoint=f"{base}/v1/traces"),
        HM(endpoint=f"{base}/v1/metrics"),
        HL(endpoint=f"{base}/v1/logs"),
    )


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[SidecarProcess]:
    process = start_sidecar(tmp_path)
    yield process
    assert process.stop() == 0, process.log()


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_sdk_exports_are_all_counted(sidecar: SidecarProcess, protocol: str) -> None:
    span_exp, metric_exp, log_exp = exporters(protocol, sidecar)
    spans, metrics, logs = (
        CountingSpans(span_exp),
        CountingMetrics(metric_exp),
        CountingLogs(log_exp),
    )
    resource = Resource.create({"service.name": f"shop-{protocol}", "service.version": "2.0"})

    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(spans, max_export_batch_size=64))
    tracer = tracer_provider.get_tracer("tests")
    for _ in range(250):
        with tracer.start_as_current_span("GET /cart/{id}", kind=SpanKind.SERVER) as span:
            span.set_attribute("http.route", "/cart/{id}")
            span.set_attribute("http.request.method", "GET")
            with tracer.start_as_current_span("SELECT cart"):
                pass
    tracer_provider.shutdown()

    reader = PeriodicExportingMetricReader(metrics, export_interval_millis=3_600_000)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = meter_provider.get_meter("tests")
    counter = meter.create_counter("orders")
    histogram = meter.create_histogram("order.value", unit="EUR")
    for region in ("eu", "us", "apac"):
        counter.add(3, {"region": region})
        histogram.record(12.5, {"region": region})
    meter_provider.shutdown()

    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    logger = logger_provider.get_logger("tests")
    for i in range(7):
        logger.emit(body=f"order {i}", severity_number=SeverityNumber.INFO)
    logger.emit(event_name="shop.checkout", body="done", attributes={"order": 1})
    logger_provider.shutdown()

    assert spans.sent == 500 and metrics.sent >= 6 and logs.sent == 8
    final = sidecar.wait_for(
        lambda m: (
            m["processed"]
            == {"spans": spans.sent, "metric_points": metrics.sent, "log_records": logs.sent}
        )
    )
    receiver = final["receiver"]
    assert receiver["accepted"] == final["processed"]
    assert receiver["refused"] == {"spans": 0, "metric_points": 0, "log_records": 0}
    assert final["services"]["counts"] == {f"shop-{protocol}": 500}
    assert final["routes"]["counts"] == {f"shop-{protocol} GET /cart/{{id}}": 250}
    assert final["events"]["counts"] == {"shop.checkout": 1}
