"""``benchmarks.ingest`` measures the analysis it claims to: every request it sends carries
trace and span ids of its own (so no span arrives as a duplicate or a late span of a trace
already analysed), ``--in-process`` ticks in event time so every trace is analysed inside a
timed tick, and the cardinality phase makes 20 span-metrics series per service."""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from benchmarks._common import SPANS_PER_REQUEST, TRACE_SIZE, build_pool
from benchmarks._fresh_ids import FreshIds, LayoutError, fresh_bodies
from benchmarks.ingest import (
    CARDINALITY_OPERATIONS,
    CARDINALITY_SPANS_PER_REQUEST,
    build_cardinality_request,
    measure,
    parse_args,
    pipeline_receiver,
    profile_in_process,
    streams,
)
from otel_perf.component import Context
from otel_perf.decode import SPAN_ATTRIBUTE_KEYS, Decoder, Limits
from otel_perf.processors.spanmetrics.config import SpanMetricsConfig
from otel_perf.processors.spanmetrics.processor import SpanMetricsProcessor
from otel_perf.store import Store

TRACES_PER_REQUEST = SPANS_PER_REQUEST // TRACE_SIZE


def spans_of(body: bytes) -> list[Span]:
    request = ExportTraceServiceRequest.FromString(body)
    return [s for r in request.resource_spans for ss in r.scope_spans for s in ss.spans]


def test_every_request_and_stream_has_trace_and_span_ids_of_its_own() -> None:
    pool = build_pool(3, seed=5)
    bodies = [*fresh_bodies(pool, 7, stream=1), *fresh_bodies(pool, 7, stream=2)]
    traces: set[bytes] = set()
    span_ids: set[bytes] = set()
    for body in bodies:
        spans = spans_of(body)
        traces |= {s.trace_id for s in spans}
        span_ids |= {s.span_id for s in spans}
        own = {s.span_id for s in spans}
        assert all(s.parent_span_id in own for s in spans if s.parent_span_id)
        assert all(any(s.trace_id) and any(s.span_id) for s in spans)
    assert len(traces) == len(bodies) * TRACES_PER_REQUEST
    assert len(span_ids) == len(bodies) * SPANS_PER_REQUEST


def test_only_ids_change_and_the_same_stream_gives_the_same_bytes() -> None:
    pool = build_pool(2, seed=6)
    assert list(fresh_bodies(pool, 4, stream=3)) == list(fresh_bodies(pool, 4, stream=3))
    original, fresh = spans_of(pool[1]), spans_of(next(iter(fresh_bodies(pool, 2, 9, offset=1))))
    for before, after in zip(original, fresh, strict=True):
        assert after.trace_id != before.trace_id and after.span_id != before.span_id
        for span in (before, after):
            span.ClearField("trace_id")
            span.ClearField("span_id")
            span.ClearField("parent_span_id")
        assert after == before


def test_times_move_by_the_shift_asked_for() -> None:
    payload = build_pool(1, seed=7, spans=16)[0]
    shifted = spans_of(FreshIds(payload).payload(0, 0, shift_ns=12_345_678_901))
    for before, after in zip(spans_of(payload), shifted, strict=True):
        assert after.start_time_unix_nano == before.start_time_unix_nano + 12_345_678_901
        assert after.end_time_unix_nano == before.end_time_unix_nano + 12_345_678_901
        assert after.trace_id == before.trace_id


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (payloads under 128 bytes)."""
    assert len(payload) < 128
    return bytes([number << 3 | 2, len(payload)]) + payload


def test_a_body_whose_spans_are_not_in_field_order_is_refused() -> None:
    span = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="x", start_time_unix_nano=5)
    wire = span.SerializeToString()
    reordered = wire[18:] + wire[:18]  # the trace id (tag, length, 16 bytes) moved last
    assert Span.FromString(reordered) == span
    body = _field(1, _field(2, _field(2, reordered)))  # request > resource spans > scope spans
    with pytest.raises(LayoutError, match="tag 12 not found after byte"):
        FreshIds(body)
    with pytest.raises(LayoutError, match="not an OTLP ExportTraceServiceRequest"):
        FreshIds(b"\xff\xff")
    with pytest.raises(ValueError, match="out of range"):
        FreshIds(build_pool(1, seed=8, spans=8)[0]).payload(-1, 0)


def test_no_round_reuses_another_rounds_salts() -> None:
    salts = [s for i in range(5) for s in [streams(i, 3)[0], *streams(i, 3)[1]]]
    assert len(set(salts)) == len(salts) == 5 * 4


def test_in_process_analyses_every_trace_inside_a_timed_tick() -> None:
    thresholds = gc.get_threshold()
    result = profile_in_process(batches=20, seed=3)
    # timed with the sidecar's collector settings, then the test's own put back
    assert result["gc_frozen_objects"] > 10_000
    assert (gc.get_threshold(), gc.get_freeze_count()) == (thresholds, 0)
    assert result["traces_sent"] == 20 * TRACES_PER_REQUEST
    assert result["traces_analysed"] == result["traces_sent"]
    assert result["traces_held"] == 0
    assert result["bottlenecks tick"] > 0
    total = result["bottlenecks consume_spans"] + result["bottlenecks tick"]
    assert result["bottlenecks total"] == pytest.approx(total)


def test_a_cardinality_request_is_one_service_with_all_its_operations() -> None:
    config = SpanMetricsConfig()
    store = Store(":memory:", 1000)
    processor = SpanMetricsProcessor(Context("spanmetrics", store), config)
    processor.start()
    decoder = Decoder(Limits(span_attribute_keys=SPAN_ATTRIBUTE_KEYS))
    rng = random.Random(2)
    for service in range(3):
        body = build_cardinality_request(rng, service, time.time_ns())  # the decoder's clock
        assert len(spans_of(body.SerializeToString())) == CARDINALITY_SPANS_PER_REQUEST
        processor.consume_spans(decoder.spans_from_bytes(body.SerializeToString())[0])
    snapshot = processor.snapshot()
    store.close()
    assert snapshot["spans"] == 3 * CARDINALITY_SPANS_PER_REQUEST
    assert snapshot["series"] == 3 * CARDINALITY_OPERATIONS == 60
    assert snapshot.get("overflowed_spans", 0) == 0


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[object]:
    with pipeline_receiver(tmp_path) as receiver:
        yield receiver


@pytest.mark.e2e
def test_over_grpc_the_pipeline_analyses_every_trace_sent(pipeline: object) -> None:
    """A real ``otel-perf run`` over loopback: two rounds from the same small pool; the
    bottleneck processor's own count says every trace of the measured part was analysed."""
    args: argparse.Namespace = parse_args(
        ["--clients", "1", "--requests", "3", "--warmup", "1", "--pool", "2"]
    )
    pool = build_pool(args.pool, seed=4)
    rounds = [measure(pipeline, pool, args, index) for index in range(2)]  # type: ignore[arg-type]
    for m in rounds:
        assert m.spans == 3 * SPANS_PER_REQUEST
        assert m.traces_analysed == 3 * TRACES_PER_REQUEST


def test_receiver_cpu_is_split_by_thread_name() -> None:
    import os
    import threading

    from benchmarks.ingest import thread_cpu_s, thread_cpu_spent
    from otel_perf.runtime.threadnames import name_native_thread

    done, read = threading.Event(), threading.Event()

    def spin() -> None:
        name_native_thread()
        deadline = time.thread_time() + 0.05  # CPU time, not wall time: no race
        while time.thread_time() < deadline:
            pass
        done.set()
        read.wait()  # alive (listed in /proc) until read

    before = thread_cpu_s(os.getpid())
    worker = threading.Thread(target=spin, name="otlp-grpc_7")
    worker.start()
    done.wait()
    after = thread_cpu_s(os.getpid())
    read.set()
    worker.join()
    spent = thread_cpu_spent(before, after)
    assert spent["otlp-grpc"] >= 0.03  # numbered threads of a pool under one name
    assert thread_cpu_spent(after, after) == dict.fromkeys(spent, 0.0)


@pytest.mark.e2e
def test_the_memory_probe_reads_a_running_sidecar(tmp_path: Path) -> None:
    """``--probe``: the receiver runs under benchmarks._memory_probe and answers SIGUSR1
    with its allocators' figures, the queue's peak counting the spans it was sent."""
    from benchmarks._common import open_channel, send
    from benchmarks.ingest import read_probe

    out = tmp_path / "probe.jsonl"
    with pipeline_receiver(tmp_path, probe=out) as receiver:
        channel, export = open_channel(receiver.address)
        try:
            body = build_cardinality_request(random.Random(3), 7, time.time_ns())
            assert send(export, body.SerializeToString()) == 0
        finally:
            channel.close()
        stages = read_probe(receiver, out, timeout_s=60)
    assert set(stages) == {"as_is", "trimmed", "collected"}
    figures = stages["as_is"]
    assert figures["rss"] > figures["smaps"]["Anonymous"] > 0
    pymalloc = figures["pymalloc"]
    assert pymalloc["arena_bytes"] == pymalloc["arenas_allocated_current"] * 2**20
    assert 0 < pymalloc["bytes_in_allocated_blocks"] < pymalloc["arena_bytes"]
    assert figures["glibc"]["system_current_bytes"] > 0
    queue = figures["queue"]
    assert queue["peak_items"] >= CARDINALITY_SPANS_PER_REQUEST and queue["bytes_per_span"] > 0
    assert len(out.read_text().splitlines()) == 1
