"""OTLP request bodies (protobuf) to request messages."""

from __future__ import annotations

from google.protobuf.message import DecodeError as ProtoDecodeError
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_perf.decode.problems import DecodeError

REQUEST_TYPES: dict[str, type[Message]] = {
    "traces": ExportTraceServiceRequest,
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
}


def parse_protobuf(signal: str, body: bytes) -> Message:
    """Parse an OTLP protobuf request body; raise DecodeError naming the signal."""
    message = REQUEST_TYPES[signal]()
    try:
        message.ParseFromString(body)
    except ProtoDecodeError as exc:
        raise DecodeError(f"cannot decode OTLP {signal} protobuf: {exc}") from None
    return message
