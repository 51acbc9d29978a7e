"""OTLP/gRPC receiver on a real loopback socket: SDK exporters, errors, limits, auth, TLS."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc.error_details_pb2 import RetryInfo
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from pydantic import SecretStr
from receiver_support import (
    FakeSink,
    check_sdk_delivery,
    make_certs,
    mtls_settings,
    sdk_spans,
    span_request,
)

from otel_perf.config.models import AuthSettings, GrpcSettings, OTLPReceiverConfig, Protocols
from otel_perf.receiver._ingest import QUEUE_FULL, RETRY_INFO_KEY
from otel_perf.receiver.grpc import GrpcReceiver

SERVICE = "opentelemetry.proto.collector.{0}.v1.{1}Service"
METHODS: dict[str, tuple[str, Any]] = {
    "traces": (SERVICE.format("trace", "Trace"), ExportTraceServiceResponse),
    "metrics": (SERVICE.format("metrics", "Metrics"), ExportMetricsServiceResponse),
    "logs": (SERVICE.format("logs", "Logs"), ExportLogsServiceResponse),
}


Start = Callable[..., tuple[GrpcReceiver, FakeSink]]


@pytest.fixture
def start() -> Iterator[Start]:
    """Start receivers on 127.0.0.1:0; all are stopped at teardown."""
    receivers: list[GrpcReceiver] = []

    def _start(grpc_settings: dict[str, Any] | None = None, **config: Any) -> Any:
        settings = GrpcSettings(endpoint="127.0.0.1:0", **(grpc_settings or {}))
        sink = FakeSink()
        receiver = GrpcReceiver(
            OTLPReceiverConfig(protocols=Protocols(grpc=settings), **config), sink
        )
        receivers.append(receiver)
        receiver.start()
        return receiver, sink

    yield _start
    for receiver in receivers:
        receiver.stop(grace=1.0)


def call(
    receiver: GrpcReceiver,
    signal: str,
    body: bytes,
    metadata: tuple[tuple[str, str], ...] = (),
    compression: Any = None,
) -> Any:
    """Export raw bytes over a fresh plaintext channel; returns the parsed response."""
    service, response_type = METHODS[signal]
    with grpc.insecure_channel(f"127.0.0.1:{receiver.port}") as channel:
        export = channel.unary_unary(
            f"/{service}/Export", response_deserializer=response_type.FromString
        )
        return export(body, metadata=metadata, timeout=10, compression=compression)


def rpc_error(receiver: GrpcReceiver, signal: str, body: bytes, **kwargs: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(receiver, signal, body, **kwargs)
    return caught.value


# -- real SDK exporters --------------------------------------------------------------------


def exporters(port: int, **options: Any) -> list[Any]:
    endpoint = f"127.0.0.1:{port}"
    return [
        cls(endpoint=endpoint, insecure=True, **options)
        for cls in (OTLPSpanExporter, OTLPMetricExporter, OTLPLogExporter)
    ]


@pytest.mark.parametrize("compression", [None, grpc.Compression.Gzip])
def test_sdk_exporters_deliver_every_item(start: Start, compression: Any) -> None:
    receiver, sink = start()
    span, metric, log = exporters(receiver.port, compression=compression)
    check_sdk_delivery((span, metric, log), sink)
    assert sink.telemetry.requests["grpc:ok"] == 3


def test_bound_port_is_reported(start: Start) -> None:
    receiver, _ = start()
    assert receiver.port > 0


# -- invalid and partial ------------------------------------------------------------------


def test_truncated_protobuf_is_invalid_argument(start: Start) -> None:
    receiver, sink = start()
    body = span_request({}, {}).SerializeToString()
    error = rpc_error(receiver, "traces", body[:-7])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cannot decode OTLP traces protobuf" in error.details()
    assert sink.batches == [] and sink.telemetry.requests["grpc:invalid"] == 1


def test_a_batch_carries_the_size_of_its_request(start: Start) -> None:
    receiver, sink = start()
    body = span_request({}, {"attributes": {"http.route": "/x" * 100}}).SerializeToString()
    call(receiver, "traces", body)
    assert [b.wire_bytes for b in sink.batches] == [len(body)]


def test_empty_request_succeeds_without_a_batch(start: Start) -> None:
    receiver, sink = start()
    response = call(receiver, "traces", b"")
    assert not response.HasField("partial_success")
    assert sink.batches == []


def test_bad_span_id_is_a_partial_success_naming_the_span(start: Start) -> None:
    receiver, sink = start()
    request = span_request({}, {"span_id": b"\x01\x02\x03"}, {})
    response = call(receiver, "traces", request.SerializeToString())
    assert response.partial_success.rejected_spans == 1
    message = response.partial_success.error_message
    assert "resource_spans[0].scope_spans[0].spans[1]" in message
    assert "span_id must be 8 bytes, got 3" in message
    assert [s.name for s in sink.spans()] == ["span-0", "span-2"]
    assert sink.telemetry.rejected["spans"] == 1
    assert sink.telemetry.requests["grpc:partial"] == 1


def test_zero_end_time_is_rejected(start: Start) -> None:
    receiver, sink = start()
    request = span_request({"end_time_unix_nano": 0}, {})
    response = call(receiver, "traces", request.SerializeToString())
    assert response.partial_success.rejected_spans == 1
    assert "end_time_unix_nano is zero" in response.partial_success.error_message
    assert [s.name for s in sink.spans()] == ["span-1"]


def test_rejected_metric_points_and_log_records_are_counted(start: Start) -> None:
    receiver, sink = start()
    metrics = ExportMetricsServiceRequest()
    gauge = metrics.resource_metrics.add().scope_metrics.add().metrics.add(name="g").gauge
    gauge.data_points.add(time_unix_nano=0, as_double=1.0)
    gauge.data_points.add(time_unix_nano=5, as_double=2.0)
    logs = ExportLogsServiceRequest()
    records = logs.resource_logs.add().scope_logs.add().log_records
    records.add(trace_id=b"short", time_unix_nano=5)
    records.add(time_unix_nano=5)
    metric_response = call(receiver, "metrics", metrics.SerializeToString())
    log_response = call(receiver, "logs", logs.SerializeToString())
    assert metric_response.partial_success.rejected_data_points == 1
    assert log_response.partial_success.rejected_log_records == 1
    assert "trace_id must be 16 bytes" in log_response.partial_success.error_message
    assert [len(b) for b in sink.batches] == [1, 1]
    assert sink.telemetry.rejected == {"metric_points": 1, "log_records": 1}


def test_huge_attribute_value_is_truncated_with_a_warning(start: Start) -> None:
    receiver, sink = start({"max_recv_msg_size_mib": 32})
    route = "/x" * 5_000_000  # 10 MB
    request = span_request({"attributes": {"http.route": route}})
    response = call(receiver, "traces", request.SerializeToString())
    assert response.partial_success.rejected_spans == 0
    assert "'http.route']: value longer than 65536 bytes was truncated" in (
        response.partial_success.error_message
    )
    (span,) = sink.spans()
    assert span.attributes["http.route"] == route[:65536]


def test_message_over_the_size_limit_is_resource_exhausted(start: Start) -> None:
    receiver, sink = start({"max_recv_msg_size_mib": 1})
    request = span_request({"attributes": {"http.route": "x" * (1024 * 1024)}})
    error = rpc_error(receiver, "traces", request.SerializeToString())
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert sink.batches == []


# -- auth ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "metadata",
    [(), (("authorization", "Bearer wrong"),), (("authorization", "Basic s3cret"),)],
)
def test_missing_or_wrong_token_is_unauthenticated(start: Start, metadata: Any) -> None:
    receiver, sink = start(auth=AuthSettings(bearer_token=SecretStr("s3cret")))
    error = rpc_error(receiver, "traces", span_request({}).SerializeToString(), metadata=metadata)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "bearer token" in error.details()
    assert sink.batches == [] and sink.telemetry.requests["grpc:unauthenticated"] == 1


def test_right_token_is_accepted(start: Start) -> None:
    receiver, sink = start(auth=AuthSettings(bearer_token=SecretStr("s3cret")))
    (span_exporter, *others) = exporters(receiver.port, headers={"authorization": "Bearer s3cret"})
    try:
        assert span_exporter.export(sdk_spans(2)).name == "SUCCESS"
    finally:
        for exporter in (span_exporter, *others):
            exporter.shutdown()
    assert len(sink.spans()) == 2


# -- back-pressure ------------------------------------------------------------------------


def test_full_queue_is_resource_exhausted_with_retry_info(start: Start) -> None:
    receiver, sink = start(retry_after=2.5)
    sink.accepting = False
    error = rpc_error(receiver, "traces", span_request({}).SerializeToString())
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.details() == QUEUE_FULL
    # the trailer the Python OTLP exporter reads ...
    trailers = dict(error.trailing_metadata())
    delay = RetryInfo.FromString(trailers[RETRY_INFO_KEY]).retry_delay
    assert (delay.seconds, delay.nanos) == (2, 500_000_000)
    # ... and the rich status other clients (Go, Java) read
    status = rpc_status.from_call(error)
    assert status is not None and len(status.details) == 1
    info = RetryInfo()
    assert status.details[0].Unpack(info) and info.retry_delay == delay
    assert sink.telemetry.requests["grpc:refused"] == 1
    assert sink.telemetry.rejected["spans"] == 0


# -- health -------------------------------------------------------------------------------


def test_health_check_is_serving(start: Start) -> None:
    receiver, _ = start()
    with grpc.insecure_channel(f"127.0.0.1:{receiver.port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", METHODS["traces"][0]):
            request = health_pb2.HealthCheckRequest(service=service)
            response = stub.Check(request, timeout=10)
            assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_stop_refuses_new_calls(start: Start) -> None:
    receiver, _ = start()
    port = receiver.port
    receiver.stop(grace=1.0)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


# -- TLS ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_certs(tmp_path_factory.mktemp("pki"))


def tls_health_check(port: int, credentials: Any) -> Any:
    # the server certificate is for "localhost" and 127.0.0.1
    with grpc.secure_channel(f"localhost:{port}", credentials) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(), timeout=10).status


def test_mtls_requires_a_client_certificate(start: Start, pki: dict[str, Path]) -> None:
    receiver, _ = start({"tls": mtls_settings(pki)})
    ca = pki["ca"].read_bytes()
    with pytest.raises(grpc.RpcError) as caught:
        tls_health_check(receiver.port, grpc.ssl_channel_credentials(root_certificates=ca))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    with_cert = grpc.ssl_channel_credentials(
        root_certificates=ca,
        private_key=pki["client_key"].read_bytes(),
        certificate_chain=pki["client"].read_bytes(),
    )
    assert tls_health_check(receiver.port, with_cert) == health_pb2.HealthCheckResponse.SERVING


def test_sdk_exporter_over_mtls(start: Start, pki: dict[str, Path]) -> None:
    receiver, sink = start({"tls": mtls_settings(pki)})
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki["ca"].read_bytes(),
        private_key=pki["client_key"].read_bytes(),
        certificate_chain=pki["client"].read_bytes(),
    )
    exporter = OTLPSpanExporter(endpoint=f"localhost:{receiver.port}", credentials=credentials)
    try:
        assert exporter.export(sdk_spans(3)).name == "SUCCESS"
    finally:
        exporter.shutdown()
    assert len(sink.spans()) == 3
