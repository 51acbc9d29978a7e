"""The regression processor's keys on the columns against ``operation_key`` span by span.

``row_keys`` runs the rule once per combination of what it reads; on recorded traffic,
the ingest benchmark's requests and seeded random spans mixing value types, every row's
key must be the rule's answer for that span.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from recorded import benchmark_batches, random_span, scenario_batches
from scenarios import INJECTIONS

from otel_perf.component import Context
from otel_perf.model import Resource, SpanBatch, SpanKind
from otel_perf.processors.regression.baselines import Reservoir, add_to_reservoirs
from otel_perf.processors.regression.config import RegressionConfig
from otel_perf.processors.regression.intake import row_keys
from otel_perf.processors.regression.keys import STATEMENT_PREFIX, operation_key
from otel_perf.processors.regression.processor import RegressionProcessor
from otel_perf.series import SeriesHub
from otel_perf.store import Store


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


# -- samples added per key against span by span ------------------------------------------


def make(**settings: Any) -> RegressionProcessor:
    context = Context("regression", Store(":memory:"), SeriesHub())
    return RegressionProcessor(context, RegressionConfig.model_validate(settings))


def per_span(processor: RegressionProcessor, batch: SpanBatch) -> None:
    """The intake as it was: every span keyed by the rule and added on its own."""
    held, config = processor.held, processor.config
    for span in batch.spans:
        key = operation_key(span)
        if key is None:
            continue
        service, version = span.resource.service_name, span.resource.service_version
        value_ms, end_ns = (span.end_ns - span.start_ns) / 1e6, span.end_ns
        held.last_ns = max(held.last_ns, end_ns)
        statement = key.startswith(STATEMENT_PREFIX)
        if version is not None:
            held.versions.add(service, version, key, value_ms, end_ns)
            if statement:
                held.version_usage.execution(service, version, key, value_ms)
            else:
                held.version_usage.request(service, version)
        if statement:
            held.statements.add(service, key, end_ns, value_ms, span.trace_id)
        elif span.kind == SpanKind.SERVER and config.baseline_intervals:
            name = f"auto:{service} {span.name}"
            entry = held.collecting.get(name)
            if entry is None:
                if len(held.collecting) >= config.max_series:
                    continue
                entry = held.collecting[name] = (Reservoir(config.reservoir_size), 0)
            entry[0].add(value_ms)


def state(processor: RegressionProcessor) -> dict[str, Any]:
    held = processor.held
    statements = {key: bytes(waiting) for key, waiting in held.statements.pending.items()}
    return {
        "versions": held.versions.saved().model_dump(),
        "versions_untracked": held.versions.untracked,
        "usage": held.version_usage.saved().model_dump(),
        "usage_untracked": held.version_usage.untracked,
        "statements": statements,
        "statements_untracked": held.statements.untracked,
        "collecting": {k: (r.values.tolist(), r.seen, n) for k, (r, n) in held.collecting.items()},
        "last_ns": held.last_ns,
    }


def traffic(seed: int, batches: int) -> list[SpanBatch]:
    """Seeded random batches: a few services, each at one version or two in a batch (a
    release inside it), entry spans and statements with repeated keys."""
    rng = random.Random(seed)
    resources = [
        Resource({"service.name": f"s{i % 4}", **({"service.version": v} if v else {})})
        for i, v in enumerate(["1", "1", None, "a", "2", "3", "b", "1"])
    ]
    names = [*NAMES, "GET /a/{id}", "SELECT x"]
    attributes: dict[str, list[Any]] = {
        **dict.fromkeys(KEYS, VALUES),
        "db.statement": [
            "SELECT 1",
            "SELECT * FROM t WHERE id = 4",
            "SELECT * FROM t WHERE id = 5",
        ],
        "http.route": ["/a/{id}", "/b", 7],
    }
    out = []
    for b in range(batches):
        chosen = rng.sample(resources, rng.randrange(1, 4))
        spans = [
            random_span(rng, chosen, names, attributes, 10**18 + b * 10**10 + rng.randrange(10**10))
            for _ in range(rng.randrange(1, 120))
        ]
        out.append(SpanBatch(spans))
    return out


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"max_series": 5, "reservoir_size": 10, "version_window": 3},
        {"max_series": 2, "reservoir_size": 10, "version_window": 2, "baseline_intervals": 0},
    ],
)
@pytest.mark.parametrize("seed", range(4))
def test_samples_added_per_key_leave_the_state_span_by_span_does(
    settings: dict[str, Any], seed: int
) -> None:
    grouped, each = make(**settings), make(**settings)
    for batch in traffic(seed, 40):
        grouped.consume_spans(batch)
        per_span(each, batch)
        assert state(grouped) == state(each)
    assert state(grouped)["versions"]["samples"]  # the traffic reached every structure
    assert state(grouped)["statements"] and state(grouped)["usage"]["statements"]


def test_benchmark_traffic_state() -> None:
    grouped, each = make(), make()
    for batch in benchmark_batches(6, seed=4):
        grouped.consume_spans(batch)
        per_span(each, batch)
    assert state(grouped) == state(each) and state(grouped)["collecting"]


@pytest.mark.parametrize("size", [10, 50, 1000])
def test_reservoir_add_many_keeps_what_add_keeps(size: int) -> None:
    rng = np.random.default_rng(size)
    for seed in range(10):
        one, many = Reservoir(size, seed=seed), Reservoir(size, seed=seed)
        for _ in range(30):  # chunks below and above the vectorised path's minimum
            values = rng.random(int(rng.integers(0, 300)))
            for value in values.tolist():
                one.add(value)
            many.add_many(values)
            assert many.values == one.values and many.seen == one.seen


def test_reservoirs_filled_together_keep_what_each_keeps() -> None:
    rng = np.random.default_rng(7)
    sizes = [10, 10, 50, 1000, 10]
    alone = [Reservoir(size, seed=i) for i, size in enumerate(sizes)]
    together = [Reservoir(size, seed=i) for i, size in enumerate(sizes)]
    for _ in range(40):
        chunks = [rng.random(int(rng.integers(0, 40))) for _ in sizes]
        for reservoir, values in zip(alone, chunks, strict=True):
            for value in values.tolist():
                reservoir.add(value)
        add_to_reservoirs(list(zip(together, chunks, strict=True)))
        for a, b in zip(alone, together, strict=True):
            assert a.values == b.values and a.seen == b.seen
