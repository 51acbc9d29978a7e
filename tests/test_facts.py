"""Per-span facts once per batch: the operation column against the per-span rule.

``SpanColumns.operations`` runs :func:`otel_perf.semconv.operation` once per distinct
combination of what it reads; on recorded traffic (native decode and records alike) and
on seeded random spans whose attributes mix every value type, it must name every span
exactly as the rule does span by span.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from recorded import benchmark_batches, scenario_batches
from scenarios import INJECTIONS
from trace_builder import span

from otel_perf import facts, operation_column
from otel_perf.columns import from_records
from otel_perf.facts import group_rows, value_codes
from otel_perf.model import AttrValue, SpanBatch, SpanKind, SpanRecord
from otel_perf.operation_column import OperationMemo, operations
from otel_perf.semconv import operation


def assert_rule(batch: SpanBatch) -> None:
    columns = batch.columns()
    ops = columns.operations(batch.spans)
    assert [ops.names[i] for i in ops.ids.tolist()] == [operation(s) for s in batch.spans]
    assert columns.operations(batch.spans) is ops  # once per batch
    records = from_records(batch.spans).operations(batch.spans)
    assert [records.names[i] for i in records.ids.tolist()] == [ops.names[i] for i in ops.ids]


@pytest.mark.parametrize("inject", INJECTIONS)
def test_operations_of_recorded_scenario_traffic(inject: str | None) -> None:
    for batch in scenario_batches(inject):
        assert_rule(batch)


def test_operations_of_benchmark_traffic_share_few_combinations() -> None:
    for batch in benchmark_batches(4, seed=3):
        assert_rule(batch)
        ops = batch.columns().operations(batch.spans)
        assert len(ops.first) < len(batch) // 4  # the rule ran per combination, not per span


VALUES: list[AttrValue] = [
    None, "", "GET", "get", "POST", "/users/{id}", "/users/7", "404", 404, 404.0, True, 1,
    1.0, 0.0, -0.0, 8080, "8080", b"x", ["a"], {"k": "v"}, "pricing", "db", "postgresql",
    "SELECT * FROM t WHERE id = 1", "SELECT * FROM t WHERE id = 2", "http://h:1/a/9?q=1",
]  # fmt: skip
KEYS = [
    "http.route", "http.request.method", "http.method", "rpc.method", "rpc.service",
    "http.response.status_code", "http.status_code", "server.address", "server.port",
    "net.peer.name", "peer.service", "db.system", "db.system.name", "db.statement",
    "db.query.text", "url.full", "http.url", "url.path", "http.target", "url.template",
]  # fmt: skip
NAMES = ["GET /users/7", "GET", "SELECT", "op", "GET /a http send", "GET /users/8", "q 12"]


def random_spans(rng: random.Random, count: int) -> list[SpanRecord]:
    out = []
    for i in range(count):
        attrs = {k: rng.choice(VALUES) for k in rng.sample(KEYS, rng.randrange(6))}
        out.append(
            span(i + 1, None, 0, 1, name=rng.choice(NAMES), kind=rng.randrange(6), attrs=attrs)
        )
    return out


@pytest.mark.parametrize("seed", range(20))
def test_operations_of_random_spans_with_every_value_type(seed: int) -> None:
    spans = random_spans(random.Random(seed), 300)
    assert_rule(SpanBatch(spans))


def test_values_that_are_not_strings_are_told_apart_by_type_and_repr() -> None:
    values: list[AttrValue] = [404, "404", 404.0, 404, True, 1, -0.0, 0.0, None]
    spans = [span(i + 1, None, 0, 1, attrs={"n": v}) for i, v in enumerate(values)]
    columns = from_records(spans)
    codes = value_codes(columns, spans, "n").tolist()
    assert codes[0] == codes[3]  # the same value
    assert len(set(codes[:3] + codes[4:])) == 8  # None is a value too (the key is there)
    assert value_codes(columns, spans, "n", others=False).tolist().count(-1) == 8  # not "404"


def test_rows_are_grouped_in_order_of_first_appearance() -> None:
    a = np.array([5, 3, 5, 3, 7], np.int32)
    b = np.array([1, 1, 1, 2, 1], np.int32)
    first, group = group_rows([a, b])
    assert first.tolist() == [0, 1, 3, 4]
    assert group.tolist() == [0, 1, 0, 2, 3]


def test_wide_values_are_renumbered_not_overflowed() -> None:
    big = np.array([2**40, 7, 2**40, -(2**40), 7], np.int64)  # each part spans ~2^41
    first, group = group_rows([big, big[::-1].copy(), big])
    assert first.tolist() == [0, 1, 2, 3, 4]
    first, group = group_rows([big, big, big, np.zeros(5, np.int32)])
    assert first.tolist() == [0, 1, 3] and group.tolist() == [0, 1, 0, 2, 1]


def test_framework_internal_spans_have_no_operation() -> None:
    spans = [
        span(1, None, 0, 1, name="GET /a http send", kind=SpanKind.INTERNAL),
        span(2, None, 0, 1, name="GET /a", kind=SpanKind.SERVER, attrs={"http.route": "/a"}),
    ]
    ops = from_records(spans).operations(spans)
    assert [ops.names[i] for i in ops.ids] == [None, "/a"]


@pytest.mark.parametrize("seed", range(5))
def test_an_entry_spans_operation_is_its_route(seed: int) -> None:
    """What the slo processor relies on when it matches objectives by operation."""
    from otel_perf.semconv import route_of

    spans = random_spans(random.Random(seed), 300)
    ops = from_records(spans).operations(spans)
    for record, i in zip(spans, ops.ids.tolist(), strict=True):
        if record.kind in (SpanKind.SERVER, SpanKind.CONSUMER):
            assert ops.names[i] == route_of(record.attributes, record.name)


def test_a_warm_memo_names_a_batch_as_the_rule_does() -> None:
    """Names remembered from other batches (their ids differ) give the rule's answers."""
    memo = OperationMemo()
    batches = [SpanBatch(random_spans(random.Random(seed), 300)) for seed in range(6)]
    for batch in batches * 2:  # the second time round every combination is remembered
        ops = operations(from_records(batch.spans), batch.spans, memo)
        assert [ops.names[i] for i in ops.ids.tolist()] == [operation(s) for s in batch.spans]
    assert memo.cleared == 0 and 0 < len(memo) < 6 * 300


def test_a_steady_stream_runs_the_rule_once_per_combination() -> None:
    memo = OperationMemo()
    batches = benchmark_batches(4, seed=3)
    for batch in batches:
        operations(batch.columns(), batch.spans, memo)
    learned = len(memo)
    for batch in benchmark_batches(4, seed=3):  # the same operations, new batches and ids
        operations(batch.columns(), batch.spans, memo)
    assert len(memo) == learned and memo.cleared == 0


def test_the_memo_is_cleared_at_its_limit_and_counts_it() -> None:
    memo = OperationMemo(limit=10)
    spans = random_spans(random.Random(7), 300)
    ops = operations(from_records(spans), spans, memo)
    assert len(ops.first) > 30  # more combinations than the memo holds
    assert [ops.names[i] for i in ops.ids.tolist()] == [operation(s) for s in spans]
    assert memo.cleared == (len(ops.first) - 1) // 10 and 1 <= len(memo) <= 10
    with pytest.raises(ValueError, match="limit must be at least 1, got 0"):
        OperationMemo(limit=0)


def test_combination_keys_are_values_not_ids() -> None:
    """A combination seen before under other ids (another batch's table) is remembered."""
    memo = OperationMemo()
    a = [span(1, None, 0, 1, name="GET", kind=SpanKind.SERVER, attrs={"http.route": "/a"})]
    b = [span(2, None, 0, 1, name="x", kind=SpanKind.INTERNAL, attrs={"n": 1}), *a]
    assert operations(from_records(a), a, memo).names == ("/a",) and len(memo) == 1
    assert operations(from_records(b), b, memo).names == ("x", "/a") and len(memo) == 2


@pytest.mark.skipif(not facts.NATIVE_GROUPS, reason="extension not built or off")
@pytest.mark.parametrize("seed", range(10))
def test_native_masks_match_numpy(seed: int) -> None:
    """The rows where the rule reads each column: C's one pass against numpy's masks."""
    batches = [SpanBatch(random_spans(random.Random(seed), 300)), *benchmark_batches(1, seed)]
    for batch in batches:
        columns = batch.columns()
        reads = [read for read in operation_column.READS if read[0] in columns.attributes]
        name, kept, flags = operation_column._masked_reads_native(columns, reads)
        expected_name, expected = operation_column.masked_reads(columns, reads)
        np.testing.assert_array_equal(name, expected_name)
        np.testing.assert_array_equal(kept, expected)
        used, other = (kept != -1).any(axis=1), (kept == -2).any(axis=1)
        assert flags == (used + 2 * other).tolist()
