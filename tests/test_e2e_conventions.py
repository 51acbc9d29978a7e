"""The OTLP convention is what the docs say: a real ``otlp`` exporter sends the findings
and metrics of a replayed shop (N+1, slow queries and requests, a burning SLO, a version that
regressed one endpoint and improved another, a cacheable query) over gRPC to a small OTLP
backend, and every event name, attribute key and metric that arrives is one listed in the
convention tables of docs/findings.md (parsed from it, so the doc and this test cannot drift)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_service
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc as logs_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_service
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc as metrics_grpc
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from ports import free_port
from test_recommendations import CONFIG, shop_pipeline

from otel_perf.findings import Kind
from otel_perf.processors.spanmetrics.config import DEFAULT_DIMENSIONS

pytestmark = pytest.mark.e2e

CONVENTIONS = Path(__file__).resolve().parent.parent / "docs" / "findings.md"
SECTION = "## Event and metric conventions (stable across releases)"
SENDER = CONFIG.replace(
    "  bottlenecks: {trace_quiet_time: 0s, evaluation_interval: 60s, min_traces: 10}",
    "  spanmetrics: {late_grace: 0s}\n"
    "  bottlenecks: {trace_quiet_time: 0s, evaluation_interval: 60s, min_traces: 10,"
    " slow_request_threshold: 100ms, slow_query_p95: 100ms}",
).replace(
    "processors: [bottlenecks, slo, regression, cache]}",
    "processors: [spanmetrics, bottlenecks, slo, regression, cache], exporters: [otlp]}\n"
    "exporters:\n"
    '  otlp: {endpoint: "http://127.0.0.1:PORT", protocol: grpc, insecure: true,'
    " timeout: 5s, metrics_interval: 1h}",
)
#: what the replayed shop produces; anomalies and capacity forecasts need hours of metrics
EXPECTED_EVENTS = {
    f"otel_perf.{k}"
    for k in (
        "bottleneck_identified",
        "n_plus_one",
        "slow_query",
        "slow_request",
        "burn_rate_alert",
        "slo_violation",
        "regression_detected",
        "improvement_detected",
        "recommendation",
    )
}
EXPECTED_METRICS = {
    "otel_perf.findings",
    "otel_perf.receiver.accepted",
    "otel_perf.processor.batches",
    "otel_perf.slo.sli",
    "otel_perf.slo.burn_rate",
    "traces.span.metrics.calls",
    "traces.span.metrics.duration",
}


# -- the docs' tables -----------------------------------------------------------------


@dataclass
class Convention:
    common: set[str] = field(default_factory=set)
    events: dict[str, set[str]] = field(default_factory=dict)
    metrics: dict[str, set[str]] = field(default_factory=dict)


def _cells(line: str) -> list[list[str]]:
    return [re.findall(r"`([^`]+)`", cell) for cell in line.strip().strip("|").split("|")]


def convention() -> Convention:
    """The names in the convention section's tables, by table (known by its header)."""
    text = CONVENTIONS.read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    section = section.split("The `otlp` exporter honours", 1)[0]
    out = Convention()
    header = ""
    for line in section.splitlines():
        if not line.startswith("|") or line.startswith("|---"):
            header = "" if not line.startswith("|") else header
            continue
        if not header:
            header = line
            continue
        cells = _cells(line)
        if header.startswith("| attribute "):
            out.common |= set(cells[0])
        elif header.startswith("| event "):
            (name,) = cells[0]
            allowed = out.events.setdefault(name, set())
            allowed |= {f"otel_perf.attr.{n}" for n in cells[2]}
            allowed |= {f"otel_perf.evidence.{n}" for n in cells[3]}
        elif header.startswith("| metric "):
            (name,) = cells[0]
            keys = set(cells[2])
            if "configured dimensions" in line:
                keys |= set(DEFAULT_DIMENSIONS)
            out.metrics[name] = keys
    return out


def test_the_tables_name_every_kind_and_nothing_else() -> None:
    doc = convention()
    assert set(doc.events) == {f"otel_perf.{k.value}" for k in Kind}
    assert {"service.name", "otel_perf.finding.kind", "otel_perf.finding.key"} <= doc.common
    assert all(doc.events.values()) and "otel_perf.findings" in doc.metrics


# -- a small OTLP backend ------------------------------------------------------------------


class Backend(logs_grpc.LogsServiceServicer, metrics_grpc.MetricsServiceServicer):  # type: ignore[misc]
    """Keeps every OTLP logs and metrics request it is sent."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.logs: list[logs_service.ExportLogsServiceRequest] = []
        self.metrics: list[metrics_service.ExportMetricsServiceRequest] = []

    def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 (the gRPC method name)
        with self.lock:
            if isinstance(request, logs_service.ExportLogsServiceRequest):
                self.logs.append(request)
                return logs_service.ExportLogsServiceResponse()
            self.metrics.append(request)
            return metrics_service.ExportMetricsServiceResponse()


@pytest.fixture
def backend() -> Iterator[tuple[Backend, int]]:
    received = Backend()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    logs_grpc.add_LogsServiceServicer_to_server(received, server)
    metrics_grpc.add_MetricsServiceServicer_to_server(received, server)
    port = server.add_insecure_port(f"127.0.0.1:{free_port()}")
    server.start()
    yield received, port
    server.stop(grace=None)


def keys(attributes: Any) -> set[str]:
    return {kv.key for kv in attributes if isinstance(kv, KeyValue)}


def test_every_event_and_metric_that_arrives_is_in_the_readme(
    backend: tuple[Backend, int], tmp_path: Path
) -> None:
    received, port = backend
    pipe, _ = shop_pipeline(SENDER.replace("PORT", str(port)), replay_dir=tmp_path)
    found = {f.key: f for f in pipe.store.findings(limit=5000)}
    sent = len(pipe.store.findings(limit=5000))
    pipe.shutdown()  # flushes the exporter: every event and the metrics' last collection
    doc = convention()

    records = [
        (resource_logs.resource, scope_logs.scope, record)
        for request in received.logs
        for resource_logs in request.resource_logs
        for scope_logs in resource_logs.scope_logs
        for record in scope_logs.log_records
    ]
    assert len(records) >= sent and found
    seen_events: set[str] = set()
    for resource, scope, record in records:
        assert scope.name == "otel_perf"
        assert {"service.name"} <= keys(resource.attributes)
        name = record.event_name
        assert name in doc.events, f"event {name} is not in the tables of docs/findings.md"
        extra = keys(record.attributes) - doc.common - doc.events[name]
        assert not extra, f"{name} sends attributes docs/findings.md does not list: {sorted(extra)}"
        assert record.severity_number in (9, 13, 17)
        seen_events.add(name)
    assert EXPECTED_EVENTS <= seen_events, EXPECTED_EVENTS - seen_events

    seen_metrics: set[str] = set()
    for request in received.metrics:
        for resource_metrics in request.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    assert metric.name in doc.metrics, f"{metric.name} is not in docs/findings.md"
                    data = getattr(metric, metric.WhichOneof("data"))
                    for point in data.data_points:
                        extra = keys(point.attributes) - doc.metrics[metric.name]
                        assert not extra, f"{metric.name} has unlisted attributes {sorted(extra)}"
                    seen_metrics.add(metric.name)
    assert EXPECTED_METRICS <= seen_metrics, EXPECTED_METRICS - seen_metrics
