"""Operations are named once per distinct combination of a batch at arrival, and the
analysis counts every span under the same operation as naming it span by span did."""

from __future__ import annotations

import random
from typing import Any

import pytest
from recorded import benchmark_batches, random_span, scenario_batches
from scenarios import INJECTIONS

from otel_perf.component import Context
from otel_perf.model import AttrValue, Resource, SpanBatch, SpanRecord
from otel_perf.processors.bottlenecks import held
from otel_perf.processors.bottlenecks.assembly import TraceAssembler
from otel_perf.processors.bottlenecks.config import BottlenecksConfig
from otel_perf.processors.bottlenecks.naming import kept_operations, named_rows
from otel_perf.processors.bottlenecks.processor import BottlenecksProcessor
from otel_perf.semconv import kept_operation
from otel_perf.store import Store

S = 1_000_000_000
VALUES: dict[str, list[AttrValue]] = {
    key: ["", "GET", "/users/{id}", "/users/7", "404", 404, 404.0, True, 8080, "8080", None]
    for key in ("http.route", "http.request.method", "http.response.status_code", "url.path")
}
VALUES |= {
    "server.address": ["pay", "pay:8080", ""],
    "server.port": [8080, 8080.0, "8080", True],
    "url.template": ["/items/{id}", ""],
    "url.full": ["http://h:1/a/9?q=1", "http://h:1/a/10"],
    "db.system.name": ["postgresql"],
    "db.query.text": ["SELECT * FROM t WHERE id = 1", "SELECT * FROM t WHERE id = 2"],
    "rpc.method": ["Get", ""],
    "rpc.service": ["Cart"],
}
NAMES = ["GET /users/7", "GET", "SELECT", "op", "GET /a http send", "GET /a http receive", "q 12"]


def random_batch(seed: int, count: int = 400) -> SpanBatch:
    rng = random.Random(seed)
    resources = [Resource({"service.name": name}) for name in ("shop", "pay")]
    return SpanBatch([random_span(rng, resources, NAMES, VALUES, 10 * S + i) for i in range(count)])


def per_span(batch: SpanBatch) -> list[str]:
    return [kept_operation(span) for span in batch.spans]


@pytest.mark.parametrize("seed", range(10))
def test_random_spans_are_named_as_span_by_span(seed: int) -> None:
    batch = random_batch(seed)
    assert kept_operations(batch) == per_span(batch)


@pytest.mark.parametrize("inject", INJECTIONS)
def test_decoded_scenario_traffic_is_named_as_span_by_span(inject: str | None) -> None:
    for batch in scenario_batches(inject, traces=20):
        assert kept_operations(batch) == per_span(batch)


def test_benchmark_traffic_is_named_once_per_combination() -> None:
    for batch in benchmark_batches(2, seed=5):
        assert kept_operations(batch) == per_span(batch)
        # every call has its own url.path, yet the rule ran on a few rows only
        assert len(batch.columns().operations(batch.spans).first) < len(batch) // 10


def test_framework_internal_spans_keep_their_templated_name() -> None:
    batch = random_batch(1)
    internal = [i for i, s in enumerate(batch.spans) if s.name.endswith(("send", "receive"))]
    assert internal and any(s.kind == 1 for s in batch.spans if s.name.endswith("send"))
    named = kept_operations(batch)
    assert [named[i] for i in internal] == [per_span(batch)[i] for i in internal]


def make() -> BottlenecksProcessor:
    config = BottlenecksConfig(trace_quiet_time=1)
    return BottlenecksProcessor(Context("bottlenecks", Store(":memory:")), config)


def figures(processor: BottlenecksProcessor) -> dict[str, Any]:
    processor.finish(10**6 * S)
    return processor.snapshot()


@pytest.mark.parametrize("inject", INJECTIONS)
def test_the_analysis_reads_the_names_given_at_arrival(
    inject: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = scenario_batches(inject, traces=30)
    reference = make()  # operations named span by span when the traces complete
    for batch in batches:
        reference._analyse(reference.assembler.add(list(batch.spans)))
    expected = figures(reference)

    def refuse(span: SpanRecord) -> str:
        raise AssertionError(f"named span by span: {span.name}")

    monkeypatch.setattr(held, "kept_operation", refuse)
    named = make()
    for batch in batches:
        named.consume_spans(batch)
    assert figures(named) == expected
    assert expected["traces_analysed"] == 30


def test_a_span_that_came_unnamed_is_named_on_arrival() -> None:
    batch = random_batch(2, count=6)
    spans = batch.spans
    for span in spans:
        span.trace_id = b"t" * 16
    assembler = TraceAssembler(S, 10, 100)
    assembler.add(spans[:3], named_rows(SpanBatch(spans[:3])))
    assembler.add(spans[3:])
    (trace,) = assembler.drain().traces()
    assert trace.operations == per_span(SpanBatch(spans))

    assembler.add(spans[:3], ["wrong"] * 3)  # late: the trace was analysed
    assert assembler.late_spans == 3
