"""Helpers shared by the gRPC and HTTP receiver tests: a recording sink, OTLP
requests, telemetry made by the real SDK, and a throwaway PKI for TLS."""

from __future__ import annotations

import datetime
import ipaddress
import threading
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from opentelemetry._logs import SeverityNumber
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_perf.config.models import TLSSettings
from otel_perf.model import Batch, LogBatch, MetricBatch, SpanBatch
from otel_perf.telemetry import Telemetry

TRACE_ID = bytes(range(1, 17))
RESOURCE = Resource.create({"service.name": "checkout"})


class FakeSink:
    """Records submitted batches; ``accepting = False`` simulates a full queue."""

    span_attributes: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self.telemetry = Telemetry()
        self.batches: list[Batch] = []
        self.accepting = True
        self._lock = threading.Lock()

    def submit(self, batch: Batch) -> bool:
        with self._lock:
            if self.accepting:
                self.batches.append(batch)
            return self.accepting

    def spans(self) -> list[Any]:
        return [s for b in self.batches if isinstance(b, SpanBatch) for s in b]


def span_request(*spans: dict[str, Any]) -> ExportTraceServiceRequest:
    """One resource (service "checkout") with a span per dict of field overrides.

    ``attributes`` in a dict becomes string attributes; span ids are 01.., 02.., ...
    """
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(key="service.name").value.string_value = "checkout"
    scope = resource_spans.scope_spans.add()
    for i, overrides in enumerate(spans):
        fields = dict(overrides)
        attributes = fields.pop("attributes", {})
        defaults = dict(
            trace_id=TRACE_ID,
            span_id=bytes([i + 1] * 8),
            name=f"span-{i}",
            start_time_unix_nano=1_000,
            end_time_unix_nano=2_000,
        )
        span = scope.spans.add(**(defaults | fields))
        for key, value in attributes.items():
            span.attributes.add(key=key).value.string_value = value
    return request


# -- real SDK telemetry --------------------------------------------------------------------


def sdk_spans(count: int) -> list[Any]:
    """``count`` finished SDK spans: a server span and its children."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("GET /cart", attributes={"http.route": "/cart"}):
        for i in range(count - 1):
            with tracer.start_as_current_span(f"SELECT {i}"):
                pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def sdk_metrics() -> tuple[Any, int]:
    """SDK metrics data (a counter and a histogram, three routes each) and its point count."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=RESOURCE, metric_readers=[reader])
    meter = provider.get_meter("test")
    counter = meter.create_counter("requests")
    histogram = meter.create_histogram("latency", unit="ms")
    for route in ("/a", "/b", "/c"):
        counter.add(1, {"route": route})
        histogram.record(12.5, {"route": route})
    data = reader.get_metrics_data()
    provider.shutdown()
    assert data is not None
    points = sum(
        len(metric.data.data_points)
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    )
    return data, points


def sdk_logs(count: int) -> list[Any]:
    """``count`` SDK log records with bodies "record 0", "record 1", ..."""
    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    logger = provider.get_logger("test")
    for i in range(count):
        logger.emit(body=f"record {i}", severity_number=SeverityNumber.INFO)
    provider.shutdown()
    return list(memory.get_finished_logs())


def check_sdk_delivery(exporters: tuple[Any, Any, Any], sink: FakeSink) -> None:
    """Export 5 spans, 6 metric points and 4 log records through the span, metric and
    log exporters (shut down afterwards); the sink must hold all of them, one batch each."""
    span_exporter, metric_exporter, log_exporter = exporters
    metrics, count = sdk_metrics()
    try:
        assert span_exporter.export(sdk_spans(5)).name == "SUCCESS"
        assert metric_exporter.export(metrics).name == "SUCCESS"
        assert log_exporter.export(sdk_logs(4)).name == "SUCCESS"
    finally:
        for exporter in exporters:
            exporter.shutdown()
    spans, points, logs = sink.batches
    assert isinstance(spans, SpanBatch) and isinstance(points, MetricBatch)
    assert isinstance(logs, LogBatch)
    assert len(spans) == 5 and {s.service_name for s in spans} == {"checkout"}
    assert len(points) == count == 6  # a counter and a histogram, three routes each
    assert [r.body for r in logs] == [f"record {i}" for i in range(4)]


# -- TLS ----------------------------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str, key: Any, issuer: str, issuer_key: Any, *, ca: bool
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    # key usage and key identifiers: strict verifiers (Python 3.13's default) require them
    builder = builder.add_extension(
        x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
    ).add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
        critical=False,
    )
    if ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
    else:
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_certs(folder: Path) -> dict[str, Path]:
    """A throwaway CA and a server and a client certificate signed by it, as PEM files.

    Keys: ``ca``, ``server``, ``server_key``, ``client``, ``client_key``. The server
    certificate is for "localhost" and 127.0.0.1.
    """
    ca_key = ec.generate_private_key(ec.SECP256R1())
    files = {"ca": folder / "ca.pem"}
    ca_cert = _certificate("test-ca", ca_key, "test-ca", ca_key, ca=True)
    files["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    for role in ("server", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(role, key, "test-ca", ca_key, ca=False)
        files[role] = folder / f"{role}.pem"
        files[f"{role}_key"] = folder / f"{role}-key.pem"
        files[role].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        files[f"{role}_key"].write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return files


def mtls_settings(certs: dict[str, Path]) -> TLSSettings:
    """Server TLS from :func:`make_certs` files, requiring a client certificate."""
    return TLSSettings(
        cert_file=str(certs["server"]),
        key_file=str(certs["server_key"]),
        client_ca_file=str(certs["ca"]),
    )
