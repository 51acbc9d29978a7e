"""Backpressure: a tiny queue and a slowed processor make the receiver refuse with a
retryable status; standard SDK exporters retry, and once the processor catches up
every span sent has been received — none dropped silently."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from ports import free_port
from support import RecordingProcessor

from otel_perf.config import load_config
from otel_perf.sidecar import Sidecar

pytestmark = pytest.mark.e2e

CONFIG = """
receivers:
  otlp:
    retry_after: 1s
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc}"}}
      http: {{endpoint: "127.0.0.1:{http}"}}
processors:
  recording: {{block: true}}
service:
  queue: {queue}
  pipelines:
    traces: {{receivers: [otlp], processors: [recording]}}
"""


ITEMS = "{max_items: 10}"
BYTES = "{max_items: 100000, max_size_mib: 1}"


@pytest.fixture
def sidecar(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Sidecar]:
    queue = getattr(request, "param", ITEMS)
    text = CONFIG.format(grpc=free_port(), http=free_port(), queue=queue)
    running = Sidecar(load_config(text=text), store_path=str(tmp_path / "s.db"))
    running.start()
    yield running
    for processor in RecordingProcessor.instances:
        processor.release.set()
    running.stop()


def finished_spans(n: int, name: str, padding_bytes: int = 0) -> list[Any]:
    """Real SDK spans (ReadableSpan) to hand straight to an exporter."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bp"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bp")
    for _ in range(n):
        with tracer.start_as_current_span(name) as span:
            if padding_bytes:
                span.set_attribute("padding", "x" * padding_bytes)
    provider.shutdown()
    return list(memory.get_finished_spans())


def span_exporter(protocol: str, sidecar: Sidecar) -> Any:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=f"127.0.0.1:{sidecar.ports.grpc['otlp']}", insecure=True)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

    return Http(endpoint=f"http://127.0.0.1:{sidecar.ports.http['otlp']}/v1/traces")


def wait_until(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


@pytest.mark.parametrize(
    ("sidecar", "padding_bytes"), [(ITEMS, 0), (BYTES, 80_000)], indirect=["sidecar"]
)
@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_refused_sends_are_retried_and_nothing_is_lost(
    sidecar: Sidecar, protocol: str, padding_bytes: int
) -> None:
    telemetry = sidecar.pipeline.telemetry
    processor = RecordingProcessor.instances[0]
    exporter = span_exporter(protocol, sidecar)
    batches = [finished_spans(8, f"op-{i}", padding_bytes) for i in range(3)]
    # 1st batch: taken by the worker, which then blocks in the slow processor;
    # 2nd: waits in the queue (8 of 10 items, or ~640 KB of 1 MiB); 3rd: would
    # overflow -> refused.
    assert exporter.export(batches[0]) == SpanExportResult.SUCCESS
    wait_until(lambda: sidecar.pipeline.queue.depth == 0)
    assert exporter.export(batches[1]) == SpanExportResult.SUCCESS
    results: list[Any] = []
    third = threading.Thread(target=lambda: results.append(exporter.export(batches[2])))
    third.start()
    wait_until(lambda: telemetry.refused["spans"] >= 8)  # the exporter was told to retry
    processor.release.set()  # the slow-down ends
    third.join(30)
    exporter.shutdown()
    assert results == [SpanExportResult.SUCCESS]
    wait_until(lambda: len(processor.spans) == 24)
    assert telemetry.accepted["spans"] == 24  # every span sent was received exactly once
    assert sorted({s.name for s in processor.spans}) == ["op-0", "op-1", "op-2"]
    assert sidecar.pipeline.queue.peak_items == 8  # the 3rd waited for the 2nd to leave
