"""The pipeline's collaborators on their own: the worker loop and its schedule, the
fan-out with its failure isolation, and self-observation of the batches taken."""

from __future__ import annotations

from pathlib import Path

from otlp_builders import trace_request

from otel_perf.config import load_config
from otel_perf.decode import Decoder
from otel_perf.findings import Finding, Kind, Severity
from otel_perf.model import Batch, LogBatch, SpanBatch
from otel_perf.pipeline import Pipeline
from otel_perf.pipeline.fanout import FanOut
from otel_perf.pipeline.guard import Guard
from otel_perf.pipeline.observe import SelfObservation
from otel_perf.pipeline.worker import Worker
from otel_perf.queue import BoundedQueue
from otel_perf.store import Store
from otel_perf.telemetry import Telemetry

CONFIG = """
receivers:
  otlp: {}
processors:
  recording: {}
exporters:
  jsonl: {path: %s}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [recording], exporters: [jsonl]}
"""


def spans(n: int, seed: int) -> SpanBatch:
    batch, _ = Decoder().spans(trace_request(spans=n, seed=seed))
    return batch


def finding(kind: Kind) -> Finding:
    return Finding(
        kind=kind,
        severity=Severity.WARNING,
        service="checkout",
        subject="GET /items/{id}",
        time_ns=7,
        summary="seen",
        source="recording",
    )


class Recorded:
    """The worker's chores, recorded; event time is always 42."""

    def __init__(self) -> None:
        self.seen: list[Batch] = []
        self.ticks: list[int] = []
        self.flushes: list[int] = []

    def clock(self) -> int:
        return 42

    def process(self, batch: Batch) -> None:
        self.seen.append(batch)

    def tick(self, now_ns: int) -> object:
        self.ticks.append(now_ns)
        return None

    def flush(self, now_ns: int) -> None:
        self.flushes.append(now_ns)


def test_the_worker_drains_the_queue_in_order_then_stops_when_it_is_closed() -> None:
    queue = BoundedQueue(100)
    batches = [spans(2, seed=1), spans(3, seed=2), spans(4, seed=3)]
    for batch in batches:
        assert queue.offer(batch)
    queue.close()
    chores = Recorded()
    # due at once after every batch: one tick and one flush each, at event time clock()
    Worker(queue, chores).run(tick_interval_s=0.0, flush_interval_s=0.0)
    assert chores.seen == batches
    assert chores.ticks == [42, 42, 42] and chores.flushes == [42, 42, 42]


def test_the_worker_runs_no_chore_before_its_interval() -> None:
    queue = BoundedQueue(100)
    assert queue.offer(spans(2, seed=1))
    queue.close()
    chores = Recorded()
    Worker(queue, chores).run(tick_interval_s=3600.0, flush_interval_s=0.0)
    assert chores.ticks == [] and chores.flushes == [42]


def test_the_worker_thread_runs_a_process_replaced_on_the_pipeline(tmp_path: Path) -> None:
    # tests/two_tier_main.py wraps pipeline.process after construction to advance its clock
    config = load_config(text=CONFIG % (tmp_path / "findings.jsonl"))
    pipeline = Pipeline(config, Store(":memory:"), clock=lambda: 42)
    wrapped: list[Batch] = []
    process = pipeline.process

    def process_then_record(batch: Batch) -> None:
        process(batch)
        wrapped.append(batch)

    pipeline.process = process_then_record  # type: ignore[method-assign]
    pipeline.start()
    batch = spans(3, seed=1)
    assert pipeline.submit(batch)
    pipeline.shutdown()  # drains the queue and joins the worker
    assert wrapped == [batch]
    assert pipeline.telemetry.processed == {"spans": 3}


def test_fan_out_isolates_a_failing_subscriber_and_counts_it() -> None:
    telemetry = Telemetry(10, 10)
    fanout = FanOut({}, telemetry, Guard(telemetry))
    got: list[Finding] = []

    def broken(f: Finding) -> None:
        raise RuntimeError("subscriber bug")

    fanout.on(Kind.BOTTLENECK_IDENTIFIED, broken)
    unsubscribe = fanout.on("*", got.append)
    fanout.publish("recording", finding(Kind.BOTTLENECK_IDENTIFIED))
    unsubscribe()
    fanout.publish("recording", finding(Kind.BOTTLENECK_IDENTIFIED))
    assert len(got) == 1
    assert telemetry.findings == {Kind.BOTTLENECK_IDENTIFIED.value: 2}
    key = f"subscriber:{Kind.BOTTLENECK_IDENTIFIED.value}"
    assert telemetry.component_errors == {key: 2}


def test_self_observation_counts_what_was_taken_refused_and_processed() -> None:
    telemetry = Telemetry(10, 10)
    observation = SelfObservation(telemetry)
    batch = spans(3, seed=1)
    observation.submitted(batch, accepted=True, queue_depth=3)
    observation.submitted(LogBatch(), accepted=False, queue_depth=3)
    observation.processed(batch, started_ns=0, queue_depth=0)
    assert telemetry.accepted == {"spans": 3}
    assert telemetry.refused == {"log_records": 0}
    assert telemetry.processed == {"spans": 3}
    assert telemetry.queue_depth == 0
    assert telemetry.max_batch_latency_ns > 0
