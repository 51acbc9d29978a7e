"""Findings round trip: a processor's finding leaves through the otlp exporter and arrives at
a second otel-perf (standing in for a backend) as an OTLP log record with the right
event.name, and lands in the jsonl file; and a SIGTERM'd sidecar keeps what it found."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e import DEFAULT, SidecarProcess, start_sidecar
from otlp_builders import trace_request

from otel_perf.config import load_config
from otel_perf.decode import Decoder
from otel_perf.findings import Finding
from otel_perf.pipeline import Pipeline
from otel_perf.store import Store

pytestmark = pytest.mark.e2e

SENDER = """
receivers: {{otlp: {{}}}}
processors: {{recording: {{emit_every_tick: true}}}}
exporters:
  otlp: {{endpoint: "{endpoint}", protocol: {protocol}, insecure: true, timeout: 5s}}
  jsonl: {{path: "{jsonl}"}}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [recording], exporters: [otlp, jsonl]}}
"""


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarProcess]:
    process = start_sidecar(tmp_path_factory.mktemp("backend"))
    yield process
    assert process.stop() == 0, process.log()


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_finding_arrives_as_an_event_and_in_jsonl(
    backend: SidecarProcess, tmp_path: Path, protocol: str
) -> None:
    endpoint = f"http://{backend.grpc_endpoint}" if protocol == "grpc" else backend.http_url
    jsonl = tmp_path / "findings.jsonl"
    text = SENDER.format(endpoint=endpoint, protocol=protocol, jsonl=jsonl)
    pipeline = Pipeline(load_config(text=text), Store(":memory:"), clock=lambda: 1)
    found: list[Finding] = []
    pipeline.on("*", found.append)
    pipeline.start(worker=False)
    batch, _ = Decoder().spans(trace_request(spans=2, service=f"sender-{protocol}"))
    pipeline.process(batch)
    name = "otel_perf.bottleneck_identified"
    before = backend.metrics()["events"]["counts"].get(name, 0)
    pipeline.tick(1_700_000_000_000_000_000)
    pipeline.shutdown()  # one more tick (and finding), then the exporters are flushed

    assert len(found) == 2
    metrics = backend.wait_for(lambda m: m["events"]["counts"].get(name, 0) == before + 2)
    assert metrics["services"]["counts"] == {}  # events only, no spans were forwarded
    lines = jsonl.read_text().splitlines()
    assert [Finding.model_validate_json(line) for line in lines] == found


CONFIG_WITH_RECORDING = DEFAULT.replace(
    "service:\n",
    "processors: {{recording: {{emit_every_tick: true}}}}\nservice:\n  tick_interval: 100ms\n",
).replace("traces: {{receivers: [otlp]}}", "traces: {{receivers: [otlp], processors: [recording]}}")


def test_sigterm_drains_and_keeps_findings(tmp_path: Path) -> None:
    import grpc

    sidecar = start_sidecar(tmp_path, CONFIG_WITH_RECORDING)
    with grpc.insecure_channel(sidecar.grpc_endpoint) as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        export(trace_request(spans=5, service="kept").SerializeToString())
    sidecar.wait_for(lambda m: m["findings"].get("bottleneck_identified", 0) >= 1)
    assert sidecar.stop() == 0
    assert "shutting down" in sidecar.log()
    db = sqlite3.connect(sidecar.store)
    kinds = {row[0] for row in db.execute("SELECT kind FROM findings WHERE service = 'kept'")}
    db.close()
    assert kinds == {"bottleneck_identified"}
