"""What both OTLP transports share: auth, decode, count, submit, and the answers.

Keeping it in one place means a request gets the same treatment (and the same
counters, the same partial-success text) whether it came over gRPC or HTTP.
"""

from __future__ import annotations

import hmac
from typing import Any

from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from otel_perf.config.models import OTLPReceiverConfig
from otel_perf.decode import SPAN_ATTRIBUTE_KEYS, Decoder, Limits, Problems, parse_protobuf
from otel_perf.model import Batch
from otel_perf.receiver import SIGNAL_OF, Sink

RESPONSE_TYPES: dict[str, type[Message]] = {
    "traces": ExportTraceServiceResponse,
    "metrics": ExportMetricsServiceResponse,
    "logs": ExportLogsServiceResponse,
}
# the partial_success field that counts dropped items, per signal
_REJECTED_FIELD = {
    "traces": "rejected_spans",
    "metrics": "rejected_data_points",
    "logs": "rejected_log_records",
}
MiB = 1024 * 1024
QUEUE_FULL = "otel-perf queue is full, retry later"
UNAUTHENTICATED = "missing or invalid bearer token"
# the Python OTLP exporter reads the retry delay only from this trailer
RETRY_INFO_KEY = "google.rpc.retryinfo-bin"


class Ingest:
    """The transport-independent part of a receiver: auth, decode, count, submit.

    Args:
        config: the receiver's settings (auth token, attribute limit).
        sink: where decoded batches go.
        transport: ``"grpc"`` or ``"http"``, the prefix of request counters.
    """

    def __init__(self, config: OTLPReceiverConfig, sink: Sink, transport: str) -> None:
        self.sink = sink
        self.telemetry = sink.telemetry
        self.transport = transport
        self.decoder = Decoder(
            Limits(
                max_attribute_value_bytes=config.max_attribute_value_bytes,
                max_future_s=config.max_future,
                span_attribute_keys=SPAN_ATTRIBUTE_KEYS | sink.span_attributes,
            )
        )
        secret = config.auth.bearer_token if config.auth else None
        self._token = secret.get_secret_value().encode() if secret is not None else None

    def authorized(self, authorization: str | None) -> bool:
        """True when no token is configured or ``authorization`` is ``Bearer <token>``."""
        if self._token is None:
            return True
        scheme, _, token = (authorization or "").partition(" ")
        # compare_digest: the time taken must not reveal how much of the token matched
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self._token
        )

    def export(self, signal: str, request: Message) -> Message | None:
        """Decode and submit one parsed request.

        Returns:
            The Export*ServiceResponse (with partial_success when items were
            rejected or truncated), or None when the queue is full.
        """
        batch, problems = self.decode(signal, request)
        batch.wire_bytes = request.ByteSize()
        return self.submit(signal, batch, problems)

    def export_protobuf(self, signal: str, body: bytes) -> Message | None:
        """Decode and submit one protobuf request body; trace bodies go straight to columns.

        Raises:
            DecodeError: the body is not an OTLP ``signal`` request.
        """
        batch: Batch
        if signal == "traces":
            batch, problems = self.decoder.spans_from_bytes(body)
        else:
            batch, problems = self.decode(signal, parse_protobuf(signal, body))
        batch.wire_bytes = len(body)
        return self.submit(signal, batch, problems)

    def submit(self, signal: str, batch: Batch, problems: Problems) -> Message | None:
        """Submit a decoded batch; the response as :meth:`export` answers it."""
        if len(batch) and not self.sink.submit(batch):
            return None
        # counted only once the request is taken: a refused one will be sent again
        if problems.rejected:
            self.telemetry.count(self.telemetry.rejected, SIGNAL_OF[signal], problems.rejected)
        return export_response(signal, problems)

    def decode(self, signal: str, request: Message) -> tuple[Batch, Problems]:
        """Turn a parsed request into a batch and the problems found on the way."""
        return self.decoder.decode(signal, request)

    def count(self, outcome: str) -> None:
        """Count one request as ``<transport>:<outcome>``."""
        self.telemetry.count(self.telemetry.requests, f"{self.transport}:{outcome}")


def export_response(signal: str, problems: Problems) -> Message:
    """The success response, with partial_success when anything was dropped or clipped."""
    response: Any = RESPONSE_TYPES[signal]()
    if problems.rejected or problems.warnings:
        # touching the submessage marks it present, even when rejected stays 0
        setattr(response.partial_success, _REJECTED_FIELD[signal], problems.rejected)
        response.partial_success.error_message = problems.message()
    result: Message = response
    return result


def retry_info(retry_after_s: float) -> RetryInfo:
    """A google.rpc.RetryInfo asking the client to wait ``retry_after_s`` seconds."""
    info = RetryInfo()
    info.retry_delay.FromNanoseconds(round(retry_after_s * 1e9))
    return info


def queue_full_status(
    retry_after_s: float, code: int = code_pb2.RESOURCE_EXHAUSTED
) -> status_pb2.Status:
    """The google.rpc.Status sent when the queue is full, with RetryInfo in its details."""
    status = status_pb2.Status(code=code, message=QUEUE_FULL)
    status.details.add().Pack(retry_info(retry_after_s))
    return status
