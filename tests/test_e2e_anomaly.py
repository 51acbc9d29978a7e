"""End to end: an OTel SDK exports a gauge through the real receiver; an injected fault
becomes exactly one anomaly_detected event (opened), delivered by the exporters."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from e2e import RECEIVERS, SidecarProcess, start_sidecar
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

pytestmark = pytest.mark.e2e

CONFIG = (
    RECEIVERS
    + """\
processors:
  anomaly: {{warm_up: 40, include: ["metric:queue.depth*"]}}
exporters:
  jsonl: {{path: "{tmp}/findings.jsonl"}}
extensions:
  api: {{endpoint: "127.0.0.1:{api}"}}
service:
  extensions: [api]
  tick_interval: 100ms
  pipelines:
    metrics: {{receivers: [otlp], processors: [anomaly], exporters: [jsonl]}}
"""
)


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[SidecarProcess]:
    process = start_sidecar(tmp_path, CONFIG)
    yield process
    assert process.stop() == 0, process.log()


def test_injected_fault_gives_one_anomaly_event(sidecar: SidecarProcess, tmp_path: Path) -> None:
    rng = random.Random(5)
    values = [100 + rng.gauss(0, 3) for _ in range(120)] + [400.0] * 5 + [100.0] * 20
    sent: list[float] = []

    def observe(options: CallbackOptions) -> Iterable[Observation]:
        if len(sent) < len(values):
            sent.append(values[len(sent)])
            return [Observation(sent[-1], {"queue": "orders"})]
        return []

    exporter = OTLPMetricExporter(endpoint=sidecar.grpc_endpoint, insecure=True)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider([reader], resource=Resource.create({"service.name": "worker"}))
    provider.get_meter("test").create_observable_gauge("queue.depth", [observe])
    for _ in values:
        reader.collect()  # one point per collection, exported synchronously, in order
    provider.shutdown()
    assert len(sent) == len(values)

    sidecar.wait_for(lambda m: m["processed"]["metric_points"] >= len(values))
    path = tmp_path / "findings.jsonl"
    deadline = time.monotonic() + 30
    findings: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        if path.exists():
            findings = [json.loads(line) for line in path.read_text().splitlines()]
            if any(f["state"] == "resolved" for f in findings):
                break
        time.sleep(0.1)
    opened = [f for f in findings if f["state"] == "open"]
    assert len(opened) == 1, findings
    assert opened[0]["kind"] == "anomaly_detected" and opened[0]["service"] == "worker"
    assert opened[0]["attributes"]["value"] == 400.0  # type: ignore[index]
    assert opened[0]["attributes"]["direction"] == "up"  # type: ignore[index]
