"""A worker thread sending queued OTLP metric requests, in order, with retries.

Order matters: an instance's watermark must reach the analysis tier after the intervals
it closes, so one thread sends one request at a time. The queue is bounded: past
``max_queue`` the oldest request is dropped and counted, so a dead analysis tier cannot
grow memory.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc
import httpx
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2_grpc import (
    MetricsServiceStub,
)

from otel_perf.component.sender import Backoff, QueueSender, Retryable, SenderSettings
from otel_perf.exporters.aggregates.config import AggregatesExporterConfig

RETRYABLE_GRPC = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED,
}
RETRYABLE_HTTP = {429, 502, 503, 504}


class Sender(QueueSender[ExportMetricsServiceRequest]):
    """Sends requests on its own thread, oldest dropped past ``max_queue``; ``offer`` never
    blocks (the queue, worker and backoff are :class:`~otel_perf.component.sender.QueueSender`)."""

    def __init__(
        self, config: AggregatesExporterConfig, sleep: Callable[[float], object] | None = None
    ):
        settings = SenderSettings(
            name="otel-perf-aggregates",
            max_queue=config.max_queue,
            drop="oldest",
            max_attempts=config.max_attempts,
            backoff=Backoff(config.backoff, max(config.backoff, config.max_backoff)),
        )
        super().__init__(settings, self._export, sleep=sleep)
        self.config = config
        self._channel: grpc.Channel | None = None
        self._http: httpx.Client | None = None

    def start(self) -> None:
        if self.config.protocol == "grpc":
            self._channel = grpc.insecure_channel(self.config.endpoint)
        else:
            self._http = httpx.Client(timeout=self.config.timeout)
        super().start()

    def close(self, timeout_s: float) -> None:
        super().close(timeout_s)
        if self._channel is not None:
            self._channel.close()
        if self._http is not None:
            self._http.close()

    def _export(self, request: ExportMetricsServiceRequest) -> None:
        if self._channel is not None:
            try:
                stub = MetricsServiceStub(self._channel)  # type: ignore[no-untyped-call]
                stub.Export(request, timeout=self.config.timeout)
            except grpc.RpcError as exc:
                if exc.code() in RETRYABLE_GRPC:
                    raise Retryable(f"gRPC {exc.code().name}") from None
                raise
            return
        if self._http is None:
            raise RuntimeError("aggregates sender: start() opens the HTTP client")
        url = self.config.endpoint.rstrip("/") + "/v1/metrics"
        headers = {"Content-Type": "application/x-protobuf"}
        try:
            response = self._http.post(url, content=request.SerializeToString(), headers=headers)
        except httpx.TransportError as exc:  # no connection, or no answer in time
            raise Retryable(str(exc) or type(exc).__name__) from None
        status = response.status_code
        if status in RETRYABLE_HTTP or status >= 500:
            raise Retryable(f"HTTP {status}")
        response.raise_for_status()
