"""An in-process sidecar on loopback driven by a fake event-time clock, for tests and the
precision benchmark that send traffic paced like live traffic.

The pipeline worker ticks every ``tick_interval`` of real time, reading the fake clock;
``advance`` moves the clock and waits until a tick has seen it, so spans sent next arrive
at that event time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from otel_perf.config import load_config
from otel_perf.sidecar import Sidecar

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


class FakeClock:
    """Event time for the pipeline worker, set by the test."""

    def __init__(self, now_ns: int) -> None:
        self.now_ns = now_ns
        self.reads = 0  # how often the pipeline read it (every tick, every flush)

    def __call__(self) -> int:
        self.reads += 1
        return self.now_ns


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``predicate`` (5 ms apart) until it holds; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


class LiveSidecar:
    """A started :class:`Sidecar` with a fake clock and a gRPC channel to its receiver."""

    def __init__(self, config_text: str, store_dir: Path, start_ns: int) -> None:
        self.clock = FakeClock(start_ns)
        self.sidecar = Sidecar(
            load_config(text=config_text), store_path=str(store_dir / "store.db"), clock=self.clock
        )
        self.pipeline = self.sidecar.pipeline
        self.sidecar.start()
        port = self.sidecar.ports.grpc["otlp"]
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self._export = self.channel.unary_unary(EXPORT)
        self.sent_spans = 0

    def advance(self, now_ns: int) -> None:
        """Move event time to ``now_ns`` and wait until the pipeline has ticked at it."""
        self.clock.now_ns = now_ns
        # two reads after the change: one of them was a tick (a flush never follows a flush)
        reads = self.clock.reads
        wait_until(lambda: self.clock.reads >= reads + 2, f"a tick at {now_ns}")

    def send(self, body: bytes, spans: int) -> None:
        """Export one serialised request; wait until the pipeline has processed its spans."""
        response = ExportTraceServiceResponse.FromString(self._export(body, timeout=10))
        if response.partial_success.rejected_spans:
            raise AssertionError(f"spans rejected: {response.partial_success}")
        self.sent_spans += spans
        processed = self.pipeline.telemetry.processed
        wait_until(lambda: processed["spans"] >= self.sent_spans, "the spans processed")

    def snapshot(self, processor: str) -> Any:
        return self.pipeline.snapshot(processor)[processor]

    def close(self) -> None:
        self.channel.close()
        self.sidecar.stop()
