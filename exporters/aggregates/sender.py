"""A worker thread sending queued OTLP metric requests, in order, with retries.

Order matters: an instance's watermark must reach the analysis tier after the intervals
it closes, so one thread sends one request at a time. The queue is bounded: past
``max_queue`` the oldest request is dropped and counted, so a dead analysis tier cannot
grow memory.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable

import grpc
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2_grpc import (
    MetricsServiceStub,
)

from otel_perf.exporters.aggregates.config import AggregatesExporterConfig

log = logging.getLogger("otel_perf.exporters.aggregates")
RETRYABLE_GRPC = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED,
}
RETRYABLE_HTTP = {429, 502, 503, 504}


class Retryable(Exception):
    """An attempt failed in a way worth trying again."""


class Sender:
    """Sends requests on its own thread; ``offer`` never blocks."""

    def __init__(
        self, config: AggregatesExporterConfig, sleep: Callable[[float], None] = time.sleep
    ):
        self.config = config
        self._sleep = sleep
        self._queue: deque[ExportMetricsServiceRequest] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._channel: grpc.Channel | None = None
        self.sent = self.failed = self.dropped = self.retries = 0

    def start(self) -> None:
        if self.config.protocol == "grpc":
            self._channel = grpc.insecure_channel(self.config.endpoint)
        self._thread = threading.Thread(target=self._run, name="otel-perf-aggregates", daemon=True)
        self._thread.start()

    def offer(self, request: ExportMetricsServiceRequest) -> None:
        with self._cond:
            if len(self._queue) >= self.config.max_queue:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(request)
            self._cond.notify_all()

    def flush(self, timeout_s: float) -> bool:
        """Wait until everything queued has been sent (or given up); False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while (self._queue or self._busy) and self._thread is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout_s: float) -> None:
        self.flush(timeout_s)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._channel is not None:
            self._channel.close()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                request, self._busy = self._queue.popleft(), True
            try:
                self._deliver(request)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _deliver(self, request: ExportMetricsServiceRequest) -> None:
        backoff = self.config.backoff
        for attempt in range(1, self.config.max_attempts + 1):
            try:
                self._send(request)
                self.sent += 1
                return
            except Retryable as exc:
                if attempt == self.config.max_attempts or self._closed:
                    log.warning("aggregates not delivered after %d attempts: %s", attempt, exc)
                    break
                self.retries += 1
                self._sleep(backoff)
                backoff = min(backoff * 2, self.config.max_backoff)
            except Exception as exc:  # not retryable: the analysis tier refused it
                log.warning("aggregates refused by %s: %s", self.config.endpoint, exc)
                break
        self.failed += 1

    def _send(self, request: ExportMetricsServiceRequest) -> None:
        if self._channel is not None:
            try:
                stub = MetricsServiceStub(self._channel)  # type: ignore[no-untyped-call]
                stub.Export(request, timeout=self.config.timeout)
            except grpc.RpcError as exc:
                if exc.code() in RETRYABLE_GRPC:
                    raise Retryable(f"gRPC {exc.code().name}") from None
                raise
            return
        url = self.config.endpoint.rstrip("/") + "/v1/metrics"
        body = request.SerializeToString()
        http = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/x-protobuf"}, method="POST"
        )
        try:
            with urllib.request.urlopen(http, timeout=self.config.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            if exc.code in RETRYABLE_HTTP or exc.code >= 500:
                raise Retryable(f"HTTP {exc.code}") from None
            raise
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            raise Retryable(str(exc)) from None
