"""The regression processor's grouped span intake against the span-by-span loop.

Keys are made once per combination and samples added group by group; the reference is
the per-span loop (``_span_by_span``). On recorded traffic, the ingest benchmark's
requests and seeded random spans (several resources per service and version, version
changes, statements, tight series bounds) both must leave the same state.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from recorded import benchmark_batches, random_span, scenario_batches
from scenarios import INJECTIONS

from otel_perf.component import Context
from otel_perf.model import Resource, SpanBatch
from otel_perf.processors.regression.config import RegressionConfig
from otel_perf.processors.regression.processor import RegressionProcessor
from otel_perf.series import SeriesHub
from otel_perf.store import Store


class Counting(RegressionProcessor):
    """The processor under test, counting the batches it added span by span."""

    by_span = 0

    def _span_by_span(self, batch: SpanBatch, keys: list[str | None] | None = None) -> None:
        Counting.by_span += 1
        super()._span_by_span(batch, keys)


class SpanBySpan(RegressionProcessor):
    def consume_spans(self, batch: SpanBatch) -> None:
        with self.lock:
            self._span_by_span(batch)


def state(kind: type[RegressionProcessor], batches: list[SpanBatch], **settings: Any) -> Any:
    context = Context("regression", Store(":memory:"), SeriesHub())
    p = kind(context, RegressionConfig.model_validate(settings))
    for batch in batches:
        p.consume_spans(batch)
    versions = p.versions
    return (
        {k: {v: s.to_dict() for v, s in vs.items()} for k, vs in versions.samples.items()},
        list(versions.samples),
        dict(versions.operations),
        dict(versions.pending),
        {k: list(v) for k, v in versions.releases.items()},
        versions.untracked,
        p.version_usage.to_dict(),
        p.version_usage.untracked,
        dict(p.statements.pending),
        p.statements.untracked,
        {name: (r.values, r.seen, n) for name, (r, n) in p.collecting.items()},
        p.last_ns,
    )


def same(batches: list[SpanBatch], **settings: Any) -> None:
    assert state(Counting, batches, **settings) == state(SpanBySpan, batches, **settings)


@pytest.mark.parametrize("inject", INJECTIONS)
def test_recorded_scenario_traffic(inject: str | None) -> None:
    same(scenario_batches(inject))


def test_benchmark_traffic() -> None:
    same(benchmark_batches(6, seed=4))
    flapping = benchmark_batches(16, seed=6)  # each request a random version of its service
    same(flapping, max_series=5, version_window=4)


NAMES = ["GET /a/1", "GET /a/2", "SELECT", "op", "GET /a http send", "POST /b"]
VALUES: list[Any] = ["", "GET", "/a/{id}", "/b", 7, "SELECT 1", "SELECT 2", "postgresql"]


def random_batches(seed: int) -> list[SpanBatch]:
    rng = random.Random(seed)
    keys = ["http.route", "http.request.method", "http.method", "db.statement", "db.system"]
    attributes = dict.fromkeys(keys, VALUES)
    batches = []
    for b in range(10):
        # fresh Resource objects per batch: alike resources of one service and version
        versions = [1 + b // 4] * 2 + ([b // 4] if b == 6 else [])  # batch 6: a straggler
        resources = [
            Resource({"service.name": s, "service.version": str(v)}) for s in "ab" for v in versions
        ]
        end_s = 1_700_000_000 + b
        spans = [
            random_span(rng, resources, NAMES, attributes, end_s * 10**9 + rng.randrange(10**9))
            for _ in range(150)
        ]
        batches.append(SpanBatch(spans))
    return batches


@pytest.mark.parametrize("seed", range(5))
def test_random_spans_with_version_changes_and_bounds(seed: int) -> None:
    batches = random_batches(seed)
    Counting.by_span = 0
    same(batches)
    assert Counting.by_span == 1  # batch 6, a straggler beside the current version
    same(batches, max_series=6, version_window=5)
