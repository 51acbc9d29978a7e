"""The instrumentation processor's span intake on the columns against the per-span rule.

Categories (``coverage.category``) and SERVER durations per service and window, from the
batch's columns, must be what the per-span loop gave: on recorded traffic and on seeded random
spans carrying the category attributes with every kind of value (None included).
"""

from __future__ import annotations

import random

import pytest
from recorded import benchmark_batches, random_span, scenario_batches
from scenarios import INJECTIONS

from otel_perf.model import Resource, SpanBatch, SpanKind
from otel_perf.processors.instrumentation.categories import server_windows, span_categories
from otel_perf.processors.instrumentation.coverage import NS, category

WINDOW_NS = NS // 4  # several windows a batch, so their order and bounds are checked


def per_span(batch: SpanBatch) -> tuple[list[tuple[str, str, int, int, int]], list[object]]:
    groups: dict[tuple[str, str], list[int]] = {}
    server: dict[str, dict[int, list[float]]] = {}
    for span in batch.spans:
        service = span.resource.service_name
        groups.setdefault((service, category(span.kind, span.attributes)), []).append(span.end_ns)
        if span.kind == SpanKind.SERVER:
            start = span.end_ns - span.end_ns % WINDOW_NS
            windows = server.setdefault(service, {})
            windows.setdefault(start, []).append(span.duration_ns / NS)
    counted = [(s, c, len(e), min(e), max(e)) for (s, c), e in groups.items()]
    return counted, [(s, sorted(w.items())) for s, w in server.items()]


def same(batch: SpanBatch) -> None:
    columns = batch.columns()
    windows = [
        (service, [(start, seconds.tolist()) for start, seconds in per_window])
        for service, per_window in server_windows(columns, WINDOW_NS)
    ]
    assert (span_categories(columns), windows) == per_span(batch)


@pytest.mark.parametrize("inject", INJECTIONS)
def test_recorded_scenario_traffic(inject: str | None) -> None:
    for batch in scenario_batches(inject) + benchmark_batches(2, seed=5):
        same(batch)


@pytest.mark.parametrize("seed", range(5))
def test_random_spans(seed: int) -> None:
    rng = random.Random(seed)
    resources = [Resource({"service.name": s}) for s in ("a", "b", "c")]
    values = [None, "", "postgresql", 1, True]
    keys = ("db.system", "db.system.name", "messaging.system", "http.route")
    attributes = dict.fromkeys(keys, values)
    spans = [
        random_span(rng, resources, ["op"], attributes, 1_700_000_000 * NS + rng.randrange(NS))
        for _ in range(300)
    ]
    same(SpanBatch(spans))
