"""Build OTLP protobuf requests for tests (deterministic: ids from a seed)."""

from __future__ import annotations

import random
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

BASE_NS = 1_700_000_000_000_000_000


def kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def trace_request(
    spans: int = 3,
    service: str = "checkout",
    seed: int = 1,
    route: str = "/items/{id}",
    start_ns: int = BASE_NS,
) -> ExportTraceServiceRequest:
    rng = random.Random(seed)
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.extend([kv("service.name", service), kv("service.version", "1.0")])
    ss = rs.scope_spans.add()
    ss.scope.name = "tests"
    for i in range(spans):
        span = ss.spans.add()
        span.trace_id = rng.randbytes(16)
        span.span_id = rng.randbytes(8)
        span.name = f"GET {route}"
        span.kind = 2
        span.start_time_unix_nano = start_ns + i * 1_000_000
        span.end_time_unix_nano = start_ns + i * 1_000_000 + 5_000_000
        span.attributes.extend(
            [kv("http.route", route), kv("http.request.method", "GET"), kv("url.path", "/items/1")]
        )
    return request


def metrics_request(points: int = 2, service: str = "checkout") -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.append(kv("service.name", service))
    metric = rm.scope_metrics.add().metrics.add()
    metric.name = "queue.depth"
    for i in range(points):
        dp = metric.gauge.data_points.add()
        dp.time_unix_nano = BASE_NS + i
        dp.as_int = i
    return request


def logs_request(records: int = 2, event_name: str = "") -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.append(kv("service.name", "checkout"))
    sl = rl.scope_logs.add()
    for i in range(records):
        rec = sl.log_records.add()
        rec.time_unix_nano = BASE_NS + i
        rec.body.string_value = f"line {i}"
        rec.event_name = event_name
    return request
