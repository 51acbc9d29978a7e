"""The regression processor's keys on the columns against ``operation_key`` span by span.

``row_keys`` runs the rule once per combination of what it reads; on recorded traffic,
the ingest benchmark's requests and seeded random spans mixing value types, every row's
key must be the rule's answer for that span.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from recorded import benchmark_batches, random_span, scenario_batches
from scenarios import INJECTIONS

from otel_perf.model import Resource, SpanBatch
from otel_perf.processors.regression.intake import row_keys
from otel_perf.processors.regression.keys import operation_key


def same(batch: SpanBatch) -> None:
    assert row_keys(batch.columns(), batch.spans) == [operation_key(s) for s in batch.spans]


@pytest.mark.parametrize("inject", INJECTIONS)
def test_recorded_scenario_traffic(inject: str | None) -> None:
    for batch in scenario_batches(inject):
        same(batch)


def test_benchmark_traffic() -> None:
    for batch in benchmark_batches(6, seed=4):
        same(batch)


NAMES = ["GET /a/1", "GET /a/2", "SELECT", "op", "GET /a http send", "POST /b", "/c/3"]
VALUES: list[Any] = [None, "", "GET", "get", "/a/{id}", "/b", 7, True, "SELECT 1", "pg"]
KEYS = ("http.route", "http.request.method", "http.method", "db.statement", "db.query.text",
        "db.system", "db.system.name")  # fmt: skip


@pytest.mark.parametrize("seed", range(10))
def test_random_spans(seed: int) -> None:
    rng = random.Random(seed)
    resources = [Resource({"service.name": "a"})]
    attributes = dict.fromkeys(KEYS, VALUES)
    spans = [random_span(rng, resources, NAMES, attributes, 10**18) for _ in range(300)]
    same(SpanBatch(spans))
