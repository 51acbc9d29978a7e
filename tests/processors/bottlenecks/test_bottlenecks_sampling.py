"""sample_ratio analyses a stable share of traces, chosen by trace id."""

from __future__ import annotations

import random

from trace_builder import span

from otel_perf.component import Context
from otel_perf.model import SpanBatch
from otel_perf.processors.bottlenecks.config import BottlenecksConfig
from otel_perf.processors.bottlenecks.processor import BottlenecksProcessor
from otel_perf.store import Store


def analysed(ratio: float, trace_ids: list[bytes]) -> int:
    processor = BottlenecksProcessor(
        Context("bottlenecks", Store(":memory:")),
        BottlenecksConfig(sample_ratio=ratio, trace_quiet_time=0),
    )
    spans = [span("root", None, 0, 10, trace_id=tid) for tid in trace_ids]
    processor.consume_spans(SpanBatch(spans))
    processor.tick(10**12)
    return processor.traces_analysed


def test_sample_ratio_keeps_about_that_share_and_the_same_traces() -> None:
    rng = random.Random(3)
    ids = [rng.randbytes(16) for _ in range(2000)]
    assert analysed(1.0, ids) == 2000
    tenth = analysed(0.1, ids)
    assert 150 <= tenth <= 250
    assert analysed(0.1, ids) == tenth  # deterministic: same ids, same choice
    assert analysed(0.5, ids) > tenth
