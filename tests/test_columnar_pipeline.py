"""Recorded traffic gives the same findings and RED figures through either decode path.

The default pipeline (the embedded config) processes the scenario traffic twice, once
decoded by the native decoder and once by the protobuf library, ticking on event time
as ``otel-perf replay`` does; every finding and every snapshot (span metrics' RED
figures included) must be identical.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from scenarios import generate

from otel_perf.config import load_config
from otel_perf.decode import SPAN_ATTRIBUTE_KEYS, Decoder, Limits, parse_protobuf
from otel_perf.model import SpanBatch
from otel_perf.pipeline import Pipeline
from otel_perf.store import Store

TICK_NS = 1_000_000_000


def protobuf_path(decoder: Decoder) -> Callable[[bytes], tuple[SpanBatch, Any]]:
    def decode(body: bytes) -> tuple[SpanBatch, Any]:
        request: Any = parse_protobuf("traces", body)
        return decoder.spans(request)

    return decode


def run(bodies: list[bytes], native: bool, now_ns: int) -> tuple[list[str], str]:
    """Findings (as JSON) and the pipeline's snapshot after processing ``bodies``."""
    pipeline = Pipeline(load_config(None), Store(":memory:", 1000), clock=lambda: now_ns)
    pipeline.start(worker=False)
    limits = Limits(span_attribute_keys=SPAN_ATTRIBUTE_KEYS | pipeline.span_attributes)
    decoder = Decoder(limits)
    decode = decoder.spans_from_bytes if native else protobuf_path(decoder)
    findings = []
    next_tick = None
    latest = 0
    for body in bodies:
        batch, problems = decode(body)
        assert problems.rejected == 0
        assert (batch.columnar is not None) == native
        pipeline.process(batch)
        latest = max(latest, batch.max_time_ns())
        next_tick = next_tick or latest + TICK_NS
        while latest >= next_tick:
            findings += pipeline.tick(next_tick)
            next_tick += TICK_NS
    findings += pipeline.tick(latest) + pipeline.finish(latest)
    snapshot = json.dumps(pipeline.snapshot(), sort_keys=True, default=str)
    pipeline.shutdown()
    return [f.to_json() for f in findings], snapshot


@pytest.mark.parametrize("inject", ["n_plus_one", "slow_query"])
def test_the_same_findings_and_red_figures_from_either_decode_path(inject: str) -> None:
    traffic = generate(inject, traces=150)
    now_ns = traffic.end_ns + 60 * TICK_NS
    native_findings, native_snapshot = run(traffic.requests, True, now_ns)
    findings, snapshot = run(traffic.requests, False, now_ns)
    assert native_findings and native_findings == findings
    assert '"spanmetrics"' in snapshot and native_snapshot == snapshot
