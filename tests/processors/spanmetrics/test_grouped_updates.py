"""Span metrics grouped on the columns against the same processor fed span by span.

The processor groups a batch's rows by series and asks the keyer once per group; the
reference below is the per-span loop it replaced (one ``Keyer.key`` and one add per
span). On recorded traffic, on the ingest benchmark's requests and on seeded random
spans near the series limits, both must give the same series, the same calls, errors
and histograms, and the same overflow, eviction and late counts.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from recorded import benchmark_batches, random_span, scenario_batches
from scenarios import INJECTIONS

from otel_perf.component import Context
from otel_perf.model import Resource, SpanBatch
from otel_perf.processors.spanmetrics.config import SpanMetricsConfig
from otel_perf.processors.spanmetrics.processor import SpanMetricsProcessor
from otel_perf.semconv import is_error
from otel_perf.series import SeriesHub
from otel_perf.store import Store

S = 1_000_000_000


class PerSpan(SpanMetricsProcessor):
    """The per-span loop grouped updates replaced: the reference."""

    def consume_spans(self, batch: SpanBatch) -> None:
        windows = self.windows
        for span in batch.spans:
            start = windows.slot(span.end_ns)
            key = self.keyer.key(span)
            if key is not None:
                windows.add(start, key, [span.duration_ns], int(is_error(span)))
        self.spans += len(batch)


def feed(kind: type[SpanMetricsProcessor], batches: list[SpanBatch], **settings: Any) -> Any:
    context = Context("spanmetrics", Store(":memory:"), SeriesHub())
    processor = kind(context, SpanMetricsConfig(**settings))
    for i, batch in enumerate(batches):
        processor.consume_spans(batch)
        if i % 3 == 2:  # move the watermark, so later batches hold late spans
            processor.windows.advance(max(s.end_ns for s in batch.spans), processor.id)
    processor.windows.settle()
    keyer = processor.keyer
    state = {
        start: {key: _exact(red.to_dict()) for key, red in values.items()}
        for start, values in processor.windows.open.items()
    }
    counts = (keyer.series, keyer.overflowed_spans, keyer.evicted_series)
    return state, counts, processor.windows.late_spans, processor.spans


def _exact(red: dict[str, Any]) -> dict[str, Any]:
    """A RED's figures, the float sum of durations to 1 ns (the order of adding may differ)."""
    red["duration_s"]["sum"] = round(red["duration_s"]["sum"], 9)
    return red


def same(batches: list[SpanBatch], **settings: Any) -> None:
    assert feed(SpanMetricsProcessor, batches, **settings) == feed(PerSpan, batches, **settings)


@pytest.mark.parametrize("inject", INJECTIONS)
def test_recorded_scenario_traffic(inject: str | None) -> None:
    same(scenario_batches(inject))


def test_benchmark_traffic_with_resource_dimensions() -> None:
    batches = benchmark_batches(6, seed=4)
    same(batches)
    same(batches, resource_dimensions=["service.version"], max_series_per_service=7)


VALUES: list[Any] = [None, "", "GET", "get", "/a/{id}", "/b", 7, 7.0, True, "7", ["x"]]
NAMES = ["GET /a/1", "GET /a/2", "SELECT", "op", "GET /a http send", "GET /b"]


def random_batches(seed: int) -> list[SpanBatch]:
    rng = random.Random(seed)
    keys = ["http.route", "http.request.method", "http.method", "rpc.method", "db.statement"]
    attributes = dict.fromkeys(keys, VALUES)
    resources = [Resource({"service.name": s, "service.version": v}) for s in "ab" for v in "12"]
    batches = []
    for b in range(8):
        spans = [
            random_span(
                rng,
                resources,
                NAMES,
                attributes,
                (1_700_000_000 + b * 4 + rng.randrange(8)) * S,
                rng.choice([0, 0, 2]),
            )
            for _ in range(200)
        ]
        batches.append(SpanBatch(spans))
    return batches


@pytest.mark.parametrize("seed", range(6))
def test_random_spans_near_the_limits(seed: int) -> None:
    batches = random_batches(seed)
    same(batches, dimensions=["http.route", "http.request.method"])
    same(batches, max_series_per_service=3, max_services=1, max_series=5)
    same(batches, resource_dimensions=["service.version"], max_series_per_service=4)
