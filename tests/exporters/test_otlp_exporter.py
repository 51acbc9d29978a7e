"""The otlp exporter against real in-test OTLP receivers (gRPC and HTTP)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from otel_perf.component import Context, exporter_types
from otel_perf.exporters.otlp import OTLPExporter, OTLPExporterConfig
from otel_perf.exporters.otlp.exporter import build_resource
from otel_perf.exporters.otlp.transport import signal_url
from otel_perf.findings import Finding, Kind, Severity, State
from otel_perf.store import Store
from otel_perf.telemetry import Telemetry

Attrs = dict[str, Any]


# -- in-test receivers ----------------------------------------------------------------
@dataclass
class Received:
    """What a test receiver got: decoded requests and their metadata/headers."""

    logs: list[logs_service_pb2.ExportLogsServiceRequest] = field(default_factory=list)
    metrics: list[metrics_service_pb2.ExportMetricsServiceRequest] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def log_records(self) -> list[tuple[Attrs, LogRecord]]:
        """(resource attributes, record) for every record received."""
        with self.lock:
            return [
                (attrs(rl.resource.attributes), record)
                for request in self.logs
                for rl in request.resource_logs
                for sl in rl.scope_logs
                for record in sl.log_records
            ]

    def points(self, name: str) -> list[tuple[Attrs, float]]:
        """(attributes, value) of every sum/gauge point of metric ``name``."""
        with self.lock:
            found = []
            for request in self.metrics:
                for rm in request.resource_metrics:
                    for sm in rm.scope_metrics:
                        for metric in sm.metrics:
                            if metric.name != name:
                                continue
                            data = metric.sum if metric.HasField("sum") else metric.gauge
                            for p in data.data_points:
                                value = p.as_double if p.HasField("as_double") else p.as_int
                                found.append((attrs(p.attributes), value))
            return found

    def metric_resources(self) -> list[Attrs]:
        with self.lock:
            return [
                attrs(rm.resource.attributes) for r in self.metrics for rm in r.resource_metrics
            ]


def value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    return None if kind is None else getattr(v, kind)


def attrs(kvs: Any) -> Attrs:
    pairs: list[KeyValue] = list(kvs)
    return {kv.key: value(kv.value) for kv in pairs}


class LogsServicer(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, received: Received) -> None:
        self.received = received

    def Export(self, request: Any, context: Any) -> logs_service_pb2.ExportLogsServiceResponse:  # noqa: N802
        with self.received.lock:
            self.received.logs.append(request)
            self.received.headers.append(dict(context.invocation_metadata()))
        return logs_service_pb2.ExportLogsServiceResponse()


class MetricsServicer(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, received: Received) -> None:
        self.received = received

    def Export(  # noqa: N802
        self, request: Any, context: Any
    ) -> metrics_service_pb2.ExportMetricsServiceResponse:
        with self.received.lock:
            self.received.metrics.append(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()


@pytest.fixture
def grpc_receiver() -> Iterator[tuple[str, Received]]:
    received = Received()
    pool = ThreadPoolExecutor(max_workers=4)
    server = grpc.server(pool)
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(LogsServicer(received), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(MetricsServicer(received), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"http://127.0.0.1:{port}", received
    server.stop(grace=None).wait()
    pool.shutdown(wait=True)


class OTLPHandler(BaseHTTPRequestHandler):
    received: Received  # set per server in the fixture

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.received.lock:
            self.received.paths.append(self.path)
            self.received.headers.append({k.lower(): v for k, v in self.headers.items()})
            if self.path == "/v1/logs":
                self.received.logs.append(
                    logs_service_pb2.ExportLogsServiceRequest.FromString(body)
                )
            elif self.path == "/v1/metrics":
                self.received.metrics.append(
                    metrics_service_pb2.ExportMetricsServiceRequest.FromString(body)
                )
        self.send_response(200 if self.path in ("/v1/logs", "/v1/metrics") else 404)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # keep test output clean


@pytest.fixture
def http_receiver() -> Iterator[tuple[str, Received]]:
    received = Received()
    handler = type("Handler", (OTLPHandler,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", received
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def blackhole() -> Iterator[str]:
    """An endpoint that accepts TCP connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def closed_port() -> str:
    """An endpoint nobody listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- helpers ------------------------------------------------------------------------
@pytest.fixture
def context() -> Iterator[Context]:
    store = Store(":memory:")
    yield Context("otlp/test", store)
    store.close()


@pytest.fixture
def telemetry() -> Telemetry:
    t = Telemetry()
    t.count(t.accepted, "spans", 7)
    t.count(t.refused, "log_records", 2)
    t.queue_depth, t.queue_capacity = 3, 100
    t.observe_processing("slo/checkout", 1_000_000)
    return t


def finding() -> Finding:
    return Finding(
        kind=Kind.SLO_VIOLATION,
        severity=Severity.CRITICAL,
        service="checkout",
        subject="POST /pay",
        time_ns=1_700_000_000_123_456_789,
        summary="p99 latency 1.2s over the 500ms objective",
        attributes={"p99_ms": 1200.5, "window": {"minutes": 5}},
        evidence={"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"},
        source="slo/checkout",
    )


def make(context: Context, telemetry: Telemetry | None = None, **settings: Any) -> OTLPExporter:
    # an hour: the periodic reader must not race the tests' explicit flushes
    settings.setdefault("metrics_interval", "1h")
    exporter = OTLPExporter(context, OTLPExporterConfig.model_validate(settings))
    if telemetry is not None:
        exporter.bind_telemetry(telemetry)
    return exporter


def join_shutdown_threads() -> None:
    for thread in threading.enumerate():
        if thread.name.startswith("otel-perf-"):
            thread.join(10)


def assert_event(record: LogRecord, sent: Finding) -> None:
    assert record.event_name == "otel_perf.slo_violation"
    assert record.body.string_value == sent.summary
    assert record.severity_number == 17
    assert record.severity_text == "CRITICAL"
    assert record.time_unix_nano == sent.time_ns
    got = attrs(record.attributes)
    assert got == sent.flat_attributes()
    assert got["otel_perf.finding.kind"] == "slo_violation"
    assert got["otel_perf.finding.severity"] == "critical"
    assert got["otel_perf.attr.p99_ms"] == 1200.5
    assert got["otel_perf.attr.window"] == '{"minutes": 5}'


# -- gRPC ---------------------------------------------------------------------------
def test_grpc_exports_events_and_metrics(
    context: Context, telemetry: Telemetry, grpc_receiver: tuple[str, Received]
) -> None:
    endpoint, received = grpc_receiver
    exporter = make(
        context,
        telemetry,
        endpoint=endpoint,
        headers={"X-Api-Key": "s3cret"},
        resource={"deployment.environment.name": "test"},
    )
    exporter.start()
    sent = finding()
    exporter.export([sent])
    exporter.flush()

    [(resource, record)] = received.log_records()
    assert_event(record, sent)
    assert resource["service.name"] == "otel-perf"
    assert resource["deployment.environment.name"] == "test"
    assert received.headers[0]["x-api-key"] == "s3cret"

    assert received.points("otel_perf.findings") == [
        ({"kind": "slo_violation", "severity": "critical", "service": "checkout"}, 1)
    ]
    accepted = dict((p["signal"], n) for p, n in received.points("otel_perf.receiver.accepted"))
    assert accepted == {"spans": 7, "metric_points": 0, "log_records": 0}
    refused = dict((p["signal"], n) for p, n in received.points("otel_perf.receiver.refused"))
    assert refused["log_records"] == 2
    assert received.points("otel_perf.receiver.rejected")
    assert received.points("otel_perf.queue.size") == [({}, 3)]
    assert received.points("otel_perf.queue.capacity") == [({}, 100)]
    assert received.points("otel_perf.processor.batches") == [({"processor": "slo/checkout"}, 1)]
    [(where, seconds)] = received.points("otel_perf.processor.duration")
    assert where == {"processor": "slo/checkout"} and seconds == 0.001
    assert received.metric_resources()[0]["service.name"] == "otel-perf"

    exporter.shutdown()
    exporter.shutdown()
    assert telemetry.export_errors == {}


def test_events_only_and_metrics_only(
    context: Context, grpc_receiver: tuple[str, Received]
) -> None:
    endpoint, received = grpc_receiver
    events_only = make(context, endpoint=endpoint, metrics=False)
    events_only.start()
    events_only.export([finding()])
    events_only.flush()
    events_only.shutdown()
    assert len(received.log_records()) == 1 and received.metrics == []

    metrics_only = make(context, endpoint=endpoint, events=False)
    metrics_only.start()
    metrics_only.export([finding()])
    metrics_only.flush()
    metrics_only.shutdown()
    assert len(received.log_records()) == 1
    assert received.points("otel_perf.findings")


def test_two_exporters_in_one_process_stay_separate(
    context: Context, grpc_receiver: tuple[str, Received], http_receiver: tuple[str, Received]
) -> None:
    a = make(context, endpoint=grpc_receiver[0], resource={"which": "a"})
    b = make(context, endpoint=http_receiver[0], protocol="http/protobuf", resource={"which": "b"})
    for exporter in (a, b):
        exporter.start()
        exporter.export([finding()])
        exporter.flush()
        exporter.shutdown()
    [(res_a, _)] = grpc_receiver[1].log_records()
    [(res_b, _)] = http_receiver[1].log_records()
    assert (res_a["which"], res_b["which"]) == ("a", "b")


# -- HTTP ---------------------------------------------------------------------------
def test_http_protobuf_posts_to_v1_logs_and_v1_metrics(
    context: Context, telemetry: Telemetry, http_receiver: tuple[str, Received]
) -> None:
    endpoint, received = http_receiver
    exporter = make(
        context,
        telemetry,
        endpoint=endpoint,
        protocol="http/protobuf",
        headers={"X-Api-Key": "s3cret"},
    )
    exporter.start()
    sent = finding()
    exporter.export([sent])
    exporter.flush()
    exporter.shutdown()

    assert "/v1/logs" in received.paths and "/v1/metrics" in received.paths
    [(resource, record)] = received.log_records()
    assert_event(record, sent)
    assert resource["service.name"] == "otel-perf"
    assert all(h["x-api-key"] == "s3cret" for h in received.headers)
    assert received.points("otel_perf.findings")[0][1] == 1
    assert telemetry.export_errors == {}


def test_signal_url_appends_the_signal_path() -> None:
    assert signal_url("http://c:4318", "logs") == "http://c:4318/v1/logs"
    assert signal_url("http://c:4318/", "metrics") == "http://c:4318/v1/metrics"
    assert signal_url("https://c/otlp", "logs") == "https://c/otlp/v1/logs"


# -- failure: never block ------------------------------------------------------------
def test_unreachable_endpoint_counts_errors_without_raising(
    context: Context, telemetry: Telemetry, closed_port: str
) -> None:
    exporter = make(context, telemetry, endpoint=closed_port, timeout="200ms")
    exporter.start()
    exporter.export([finding()])
    exporter.flush()
    # one failed log export and one failed metric export, after the SDK's retries
    assert telemetry.export_errors["otlp/test"] >= 2
    exporter.shutdown()
    join_shutdown_threads()


def test_export_never_blocks_and_shutdown_keeps_to_timeout(
    context: Context, telemetry: Telemetry, blackhole: str
) -> None:
    # margins wide enough for a loaded machine: an export that waited on the network would
    # take the whole 4 s timeout, a shutdown that waited per batch (two here) twice that
    exporter = make(context, telemetry, endpoint=blackhole, timeout="4s")
    exporter.start()

    started = time.monotonic()
    # more than one SDK batch (512), so the worker is already sending while we emit
    exporter.export([finding()] * 600)
    assert time.monotonic() - started < 2.0

    started = time.monotonic()
    exporter.shutdown()
    assert time.monotonic() - started < 6.0
    join_shutdown_threads()
    assert telemetry.export_errors["otlp/test"] >= 1


def test_unreachable_http_endpoint_shutdown_keeps_to_timeout(
    context: Context, closed_port: str
) -> None:
    exporter = make(context, endpoint=closed_port, protocol="http/protobuf", timeout="2s")
    exporter.start()
    exporter.export([finding()])
    started = time.monotonic()
    exporter.shutdown()
    assert time.monotonic() - started < 3.5  # one 2 s deadline for the whole shutdown
    join_shutdown_threads()


# -- lifecycle and config ----------------------------------------------------------
def test_shutdown_safe_twice_and_without_start(context: Context) -> None:
    exporter = make(context, endpoint="http://127.0.0.1:9")
    exporter.export([finding()])  # not started: dropped, no error
    exporter.flush()
    exporter.shutdown()
    exporter.shutdown()
    exporter.start()  # a shut-down exporter stays down
    exporter.export([finding()])
    exporter.shutdown()


def test_config_defaults_and_validation() -> None:
    config = OTLPExporterConfig()
    assert (config.endpoint, config.protocol, config.timeout) == (None, "grpc", 10.0)
    assert OTLPExporterConfig.model_validate({"timeout": "250ms"}).timeout == 0.25
    with pytest.raises(ValueError, match="nothing to export"):
        OTLPExporterConfig(events=False, metrics=False)
    with pytest.raises(ValueError, match="needs a URL"):
        OTLPExporterConfig(protocol="http/protobuf", endpoint="collector:4318")
    with pytest.raises(ValueError, match="protocol"):
        OTLPExporterConfig.model_validate({"protocol": "http/json"})
    secret = OTLPExporterConfig.model_validate({"headers": {"api-key": "s3cret"}})
    assert "s3cret" not in repr(secret) and "s3cret" not in secret.model_dump_json()


def test_resource_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    assert build_resource({}).attributes["service.name"] == "otel-perf"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "perf-sidecar")
    assert build_resource({}).attributes["service.name"] == "perf-sidecar"
    assert build_resource({"service.name": "mine"}).attributes["service.name"] == "mine"


def test_registered_as_otlp(context: Context) -> None:
    factory = exporter_types()["otlp"]
    exporter = factory.create(context, factory.config_model())
    assert isinstance(exporter, OTLPExporter)
    exporter.shutdown()


# -- span metrics -------------------------------------------------------------------
def test_span_metrics_are_exported_per_base_interval(
    context: Context, grpc_receiver: tuple[str, Received]
) -> None:
    from otel_perf.histogram import ExponentialHistogram
    from otel_perf.series import RED, SeriesInterval, SeriesKey

    endpoint, received = grpc_receiver
    exporter = make(context, Telemetry(), endpoint=endpoint)
    exporter.start()
    hist = ExponentialHistogram()
    hist.record_many([0.010, 0.020, 0.400])
    key = SeriesKey("checkout", "GET /cart", 2, (("http.route", "/cart"),))
    base = SeriesInterval(10**18, 10**18 + 10**10, 10, {key: RED(3, 1, hist)})
    context.series.publish(base)
    context.series.publish(
        SeriesInterval(10**18, 10**18 + 6 * 10**10, 60, {key: RED(3, 1, hist)}, rollup=True)
    )  # a rollup is not sent again
    exporter.shutdown()

    calls = [
        (m, rm)
        for request in received.metrics
        for rm in request.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "traces.span.metrics.calls"
    ]
    assert len(calls) == 1
    metric, resource_metrics = calls[0]
    assert attrs(resource_metrics.resource.attributes)["service.name"] == "checkout"
    by_status = {attrs(p.attributes)["status.code"]: p.as_int for p in metric.sum.data_points}
    assert by_status == {"STATUS_CODE_UNSET": 2, "STATUS_CODE_ERROR": 1}
    point = metric.sum.data_points[0]
    assert attrs(point.attributes)["http.route"] == "/cart"
    assert attrs(point.attributes)["span.kind"] == "SPAN_KIND_SERVER"
    (duration,) = [
        m
        for request in received.metrics
        for rm in request.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "traces.span.metrics.duration"
    ]
    (dp,) = duration.exponential_histogram.data_points
    buckets = hist.otlp_buckets()
    assert (dp.count, dp.scale) == (3, buckets.scale)
    assert (dp.positive.offset, tuple(dp.positive.bucket_counts)) == (
        buckets.positive_offset,
        buckets.positive_counts,
    )
    assert duration.unit == "s"


def test_open_findings_are_gauges_until_resolved_and_only_openings_count(
    context: Context, grpc_receiver: tuple[str, Received]
) -> None:
    opened = finding().model_copy(update={"attributes": {"objective": "pay"}})
    updated = opened.model_copy(update={"state": State.UPDATED})
    endpoint, received = grpc_receiver
    exporter = make(context, endpoint=endpoint, events=False)
    exporter.start()
    exporter.export([opened, updated])
    exporter.flush()
    [(labels, one)] = received.points("otel_perf.finding.open")
    assert one == 1 and labels["kind"] == "slo_violation" and labels["subject"] == "POST /pay"
    assert labels["objective"] == "pay" and labels["finding_key"] == opened.key
    assert received.points("otel_perf.findings") == [
        ({"kind": "slo_violation", "severity": "critical", "service": "checkout"}, 1)
    ]

    with received.lock:
        received.metrics.clear()
    exporter.export([opened.model_copy(update={"state": State.RESOLVED})])
    exporter.flush()
    assert received.points("otel_perf.finding.open") == []
    assert [n for _, n in received.points("otel_perf.findings")] == [1]  # not the resolve
    exporter.shutdown()
