"""The instrumentation processor's span intake on the columns against the per-span rule.

Categories (``coverage.category``) and SERVER durations per service and window, from the
batch's columns, must be what the per-span loop gave: on recorded traffic and on seeded random
spans carrying the category attributes with every kind of value (None included).
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from recorded import benchmark_batches, random_span, scenario_batches
from scenarios import INJECTIONS

from otel_perf.histogram import ExponentialHistogram
from otel_perf.model import Resource, SpanBatch, SpanKind
from otel_perf.processors.instrumentation.categories import server_windows, span_categories
from otel_perf.processors.instrumentation.coverage import (
    NS,
    WINDOW_BUCKETS,
    Coverage,
    category,
)

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


def recorded_at_once(
    chunks: list[tuple[int, list[float]]],
) -> dict[int, ExponentialHistogram]:
    """The two newest windows as recording each chunk when it arrives keeps them."""
    windows: dict[int, ExponentialHistogram] = {}
    for start, durations in chunks:
        hist = windows.get(start)
        if hist is None:
            if windows and start < min(windows):
                continue
            hist = windows[start] = ExponentialHistogram(max_size=WINDOW_BUCKETS)
            for old in sorted(windows)[:-2]:
                del windows[old]
        for value in durations:
            hist.record(value)
    return windows


@pytest.mark.parametrize("seed", range(6))
def test_durations_recorded_when_read_match_recording_them_on_arrival(seed: int) -> None:
    rng = random.Random(seed)
    coverage, chunks = Coverage(WINDOW_NS), []
    start = 100 * WINDOW_NS
    for step in range(600):  # past MAX_WAITING: some are recorded before a read
        start += WINDOW_NS * rng.choice([0, 0, 0, 1, -1, -3])  # late windows too
        durations = [rng.lognormvariate(-3, 2) for _ in range(rng.randrange(0, 20))]
        chunks.append((start, durations))
        coverage.server_times([(start, np.array(durations, np.float64))])
        if step % 97 == 0 or step == 599:
            expected = recorded_at_once(chunks)
            got = coverage.windows
            assert sorted(got) == sorted(expected)
            assert all(got[k].to_dict() == expected[k].to_dict() for k in got)
