"""The pipeline contract: ordering, ticks, subscriptions, isolation, bounds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from otlp_builders import trace_request
from support import RecordingProcessor

from otel_perf.config import load_config
from otel_perf.decode import Decoder
from otel_perf.findings import Finding, Kind
from otel_perf.model import SpanBatch
from otel_perf.pipeline import Pipeline
from otel_perf.store import Store

CONFIG = """
receivers:
  otlp: {}
processors:
  recording: {emit_every_tick: true}
  broken: {}
exporters:
  jsonl: {path: %s}
service:
  queue: {max_items: 10}
  limits: {max_services: 2}
  pipelines:
    traces: {receivers: [otlp], processors: [broken, recording], exporters: [jsonl]}
"""


@pytest.fixture
def pipeline(tmp_path: Path) -> Any:
    config = load_config(text=CONFIG % (tmp_path / "findings.jsonl"))
    pipe = Pipeline(config, Store(":memory:"), clock=lambda: 42)
    pipe.start(worker=False)
    yield pipe
    pipe.shutdown()


def spans(n: int = 3, service: str = "checkout", seed: int = 1) -> SpanBatch:
    batch, _ = Decoder().spans(trace_request(spans=n, service=service, seed=seed))
    return batch


def test_findings_reach_subscribers_store_and_exporters(pipeline: Any, tmp_path: Path) -> None:
    seen: list[Finding] = []
    every: list[Finding] = []
    pipeline.on("bottleneck_identified", seen.append)
    pipeline.on("*", every.append)
    pipeline.process(spans())
    found = pipeline.tick(1_000)
    assert len(found) == 1 and seen == found and every == found
    assert found[0].source == "recording"
    assert pipeline.store.findings(kind="bottleneck_identified")[0] == found[0]
    pipeline.flush(1_000)
    line = (tmp_path / "findings.jsonl").read_text().splitlines()[0]
    assert Finding.model_validate_json(line) == found[0]


def test_a_failing_processor_is_isolated_and_counted(pipeline: Any) -> None:
    pipeline.process(spans())
    assert len(RecordingProcessor.instances[0].spans) == 3
    assert pipeline.tick(5)
    assert pipeline.telemetry.component_errors["broken"] == 2


def test_unsubscribe_and_unknown_kind(pipeline: Any) -> None:
    seen: list[Finding] = []
    off = pipeline.on(Kind.BOTTLENECK_IDENTIFIED, seen.append)
    off()
    pipeline.process(spans())
    pipeline.tick(7)
    assert seen == []
    with pytest.raises(ValueError, match="unknown finding kind"):
        pipeline.on("slo_breach", seen.append)


def test_queue_refuses_when_full_and_counts(pipeline: Any) -> None:
    assert pipeline.submit(spans(8))
    assert not pipeline.submit(spans(5))
    snap = pipeline.telemetry.snapshot()
    assert snap["receiver"]["accepted"]["spans"] == 8
    assert snap["receiver"]["refused"]["spans"] == 5
    assert snap["queue"]["depth"] == 8


def test_a_batch_bigger_than_the_queue_fits_an_empty_queue(pipeline: Any) -> None:
    assert pipeline.submit(spans(50))
    assert not pipeline.submit(spans(1))


def test_service_counts_are_bounded_with_overflow(pipeline: Any) -> None:
    for i, name in enumerate(["a", "b", "c", "d"]):
        pipeline.process(spans(2, service=name, seed=i))
    services = pipeline.telemetry.snapshot()["services"]
    assert services["counts"] == {"a": 2, "b": 2, "otel.metric.overflow": 4}
    assert services["overflowed"] == 4


def test_routes_per_service(pipeline: Any) -> None:
    pipeline.process(spans(3))
    routes = pipeline.telemetry.snapshot()["routes"]["counts"]
    assert routes == {"checkout GET /items/{id}": 3}


def test_shutdown_twice_and_without_start(tmp_path: Path) -> None:
    config = load_config(text=CONFIG % (tmp_path / "f.jsonl"))
    pipe = Pipeline(config, Store(":memory:"), clock=lambda: 1)
    pipe.shutdown()
    pipe.shutdown()


def test_live_worker_drains_queue_on_shutdown(tmp_path: Path) -> None:
    config = load_config(text=CONFIG % (tmp_path / "f.jsonl"))
    pipe = Pipeline(config, Store(":memory:"), clock=lambda: 1)
    pipe.start()
    for seed in range(3):
        while not pipe.submit(spans(3, seed=seed)):
            pass  # the worker is draining; offer again
    pipe.shutdown()
    assert len(RecordingProcessor.instances[0].spans) == 9
    assert pipe.telemetry.snapshot()["processed"]["spans"] == 9
