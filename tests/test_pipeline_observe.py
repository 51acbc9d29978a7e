"""The pipeline worker's chores: span counts by service and route (on the columns as on the
records), and the schedule of ticks and flushes."""

from __future__ import annotations

from collections import Counter

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from otlp_builders import kv, trace_request
from scenarios import INJECTIONS, requests

from benchmarks._common import build_pool
from otel_perf.decode import Decoder
from otel_perf.decode.columnar import NATIVE
from otel_perf.pipeline.observe import COLUMNS_FROM_SPANS, _span_counts_by_record, span_counts
from otel_perf.pipeline.worker import Every

native = pytest.mark.skipif(not NATIVE, reason="the native decoder is not built")


def _counts(body: bytes) -> tuple[tuple[list[tuple[str, int]], ...], ...]:
    """(on the columns, on the records), each as ordered (name, count) lists."""
    batch, _ = Decoder().spans_from_bytes(body)
    assert batch.columnar is not None  # decoded natively, columns beside the records

    def ordered(counts: tuple[Counter[str], Counter[str]]) -> tuple[list[tuple[str, int]], ...]:
        return tuple(list(c.items()) for c in counts)

    return ordered(span_counts(batch)), ordered(_span_counts_by_record(batch.spans))


def _resources_named_out_of_order() -> bytes:
    """Services a, b, c in that order, with c's name interned first (a span of a calls it),
    and one resource without a service.name."""
    request = ExportTraceServiceRequest()
    for index, service in enumerate(("a", "b", "c", None)):
        part = trace_request(spans=COLUMNS_FROM_SPANS, service=service or "", seed=index)
        resource = part.resource_spans[0]
        if service is None:
            del resource.resource.attributes[:]
        if service == "a":
            resource.scope_spans[0].spans[0].attributes.append(kv("peer.service", "c"))
            resource.scope_spans[0].spans[1].kind = 3  # CLIENT: counted, but no route
        request.resource_spans.append(resource)
    return request.SerializeToString()


@native
def test_services_keep_the_order_of_their_first_span() -> None:
    on_columns, on_records = _counts(_resources_named_out_of_order())
    assert on_columns == on_records
    services, routes = on_columns
    assert services == [(s, COLUMNS_FROM_SPANS) for s in ("a", "b", "c", "unknown_service")]
    assert routes[0] == ("a GET /items/{id}", COLUMNS_FROM_SPANS - 1)


@native
@pytest.mark.parametrize("inject", [None, *INJECTIONS])
def test_columns_count_recorded_traffic_as_records_do(inject: str | None) -> None:
    for body in requests(inject, traces=40):
        on_columns, on_records = _counts(body)
        assert on_columns == on_records


@native
def test_columns_count_the_ingest_benchmark_requests_as_records_do() -> None:
    for body in build_pool(4, seed=3):
        on_columns, on_records = _counts(body)
        assert on_columns == on_records
        assert sum(n for _, n in on_columns[0]) == len(Decoder().spans_from_bytes(body)[0])


def test_a_chore_slower_than_its_interval_leaves_an_interval_for_batches() -> None:
    ticks = Every(1.0, now_s=100.0)
    assert not ticks.due(100.9) and ticks.due(101.0)
    ticks.ran(104.0)  # the tick started at 101 s and took 3 s
    assert not ticks.due(104.0) and not ticks.due(104.99)
    assert ticks.due(105.0) and ticks.next_s == 105.0
