"""One 8-s request instrumented with the OTel SDK and exported with its default batch
delay: its children arrive 5 s after they end, long before the root. The trace is
analysed once, whole, with the right self times.

Event time is a fake clock; the SDK's BatchSpanProcessor (default settings: 5-s schedule
delay) is flushed at the event times its timer would fire, so the spans arrive exactly
when they would in production.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from live import LiveSidecar, wait_until
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, set_span_in_context
from ports import free_port

pytestmark = pytest.mark.e2e

S = 1_000_000_000
T0 = 1_750_000_020 * S
CONFIG = """
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc}"}}
processors:
  bottlenecks: {{}}
service:
  tick_interval: 5ms
  pipelines:
    traces: {{receivers: [otlp], processors: [bottlenecks]}}
"""


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveSidecar]:
    sidecar = LiveSidecar(CONFIG.format(grpc=free_port()), tmp_path, T0)
    try:
        yield sidecar
    finally:
        sidecar.close()


def test_an_8_s_request_exported_with_the_default_batch_delay_is_one_trace(
    live: LiveSidecar,
) -> None:
    endpoint = f"127.0.0.1:{live.sidecar.ports.grpc['otlp']}"
    provider = TracerProvider(resource=Resource.create({"service.name": "reports"}))
    processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True))
    assert processor._batch_processor._schedule_delay == 5.0  # the SDK default, seconds
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("test")
    bottlenecks = live.pipeline.processors["bottlenecks"]

    attrs = {"http.route": "/report", "http.request.method": "GET"}
    root = tracer.start_span("GET /report", kind=SpanKind.SERVER, start_time=T0, attributes=attrs)
    query = tracer.start_span(
        "SELECT",
        context=set_span_in_context(root),
        kind=SpanKind.CLIENT,
        start_time=T0 + S // 10,
        attributes={"db.system.name": "postgresql", "db.query.text": "SELECT * FROM big"},
    )
    query.end(end_time=T0 + S // 2)  # 400 ms of the 8 s

    live.advance(T0 + 5 * S)  # the batch timer fires: the query arrives, the root is running
    processor.force_flush()
    wait_until(lambda: live.pipeline.telemetry.processed["spans"] == 1, "the query span")

    root.end(end_time=T0 + 8 * S)
    live.advance(T0 + 13 * S)  # quiet 10 s after the query *ended*, not after it arrived
    assert bottlenecks.traces_analysed == 0
    processor.force_flush()  # the next timer: the root arrives
    wait_until(lambda: live.pipeline.telemetry.processed["spans"] == 2, "the root span")

    live.advance(T0 + 24 * S)  # 10 s after the root arrived
    wait_until(lambda: bottlenecks.traces_analysed >= 1, "the trace analysed")
    snapshot = live.snapshot("bottlenecks")
    assert snapshot["traces_analysed"] == 1 and snapshot["late_spans"] == 0
    self_ms = {row["operation"]: row["self_time_ms"] for row in snapshot["ranking"]}
    assert self_ms == {"GET /report": 7_600.0, "postgresql SELECT * FROM big": 400.0}
    provider.shutdown()
