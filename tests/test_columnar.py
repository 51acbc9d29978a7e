"""The native decode (bytes to records and columns) against the protobuf library's path.

The protobuf path (``parse_protobuf`` then ``Decoder.spans``) is the specification: on
recorded traffic, on hand-made edge cases and on seeded random corruptions of valid
requests, the native decoder either gives exactly the same records, problems and
columns, or declines (returns None) so that the protobuf path decides.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from otlp_builders import BASE_NS, kv, trace_request
from scenarios import INJECTIONS, requests

from benchmarks._common import build_pool
from otel_perf.columns import NONE, OTHER, SpanColumns, from_records, parent_rows
from otel_perf.decode import DecodeError, Decoder, Limits, parse_protobuf
from otel_perf.decode.columnar import NATIVE, decode_native
from otel_perf.model import SpanBatch

OTHER_MARK = {OTHER: "<not a string>", NONE: None}
LIMITS = Limits(max_attribute_value_bytes=64, clock=lambda: BASE_NS + 10**12)


def protobuf_path(body: bytes, limits: Limits = LIMITS) -> tuple[SpanBatch, Any]:
    request: Any = parse_protobuf("traces", body)
    return Decoder(limits).spans(request)


def same_records(a: SpanBatch, b: SpanBatch) -> None:
    assert len(a) == len(b)
    for left, right in zip(a.spans, b.spans, strict=True):
        for slot in left.__slots__:
            assert getattr(left, slot) == getattr(right, slot), slot
            assert type(getattr(left, slot)) is type(getattr(right, slot)), slot


def as_values(columns: SpanColumns) -> dict[str, Any]:
    """Every column with string ids replaced by the strings (ids differ between paths)."""

    def texts(column: np.ndarray) -> list[str | None]:  # OTHER: a value that is not a string
        return [OTHER_MARK.get(int(i), None) if i < 0 else columns.strings[i] for i in column]

    out: dict[str, Any] = {
        name: getattr(columns, name).tolist()
        for name in (
            "trace_id",
            "span_id",
            "parent_span_id",
            "start_ns",
            "end_ns",
            "duration_ns",
            "kind",
            "status",
            "parent",
        )
    }
    for name in ("service", "scope", "name", "route", "peer", "db_statement"):
        out[name] = texts(getattr(columns, name))
    out["attributes"] = {key: texts(column) for key, column in columns.attributes.items()}
    return out


def agree(body: bytes, limits: Limits = LIMITS) -> bool:
    """Assert the paths agree; False when the native decoder declined."""
    native = decode_native(body, limits)
    try:
        expected_batch, expected_problems = protobuf_path(body, limits)
    except DecodeError:
        assert native is None, "the protobuf library rejects what the native decoder accepted"
        return False
    if native is None:
        return False
    batch, problems = native
    same_records(batch, expected_batch)
    assert problems == expected_problems
    assert as_values(batch.columns()) == as_values(from_records(expected_batch.spans))
    return True


def test_the_extension_is_built() -> None:
    assert NATIVE, "otel_perf.decode._columnar did not build: pip install -e . with a C compiler"


@pytest.mark.parametrize("inject", INJECTIONS)
def test_recorded_scenario_traffic_decodes_the_same(inject: str | None) -> None:
    bodies = requests(inject, traces=80)
    assert all(agree(body, Limits()) for body in bodies)


def test_benchmark_traffic_decodes_the_same() -> None:
    assert all(agree(body, Limits()) for body in build_pool(4, seed=3, spans=64))


def rich_request() -> ExportTraceServiceRequest:
    """Two resources, events, every attribute value kind, a rejected and a clipped span."""
    request = trace_request(spans=6, seed=5)
    request.resource_spans.append(trace_request(spans=3, service="cart", seed=6).resource_spans[0])
    rs = request.resource_spans[0]
    rs.resource.attributes.append(
        KeyValue(key="tags", value=AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1)])))
    )
    spans = rs.scope_spans[0].spans
    spans[0].attributes.extend([kv("db.statement", "SELECT " + "x" * 100), kv("cache.hit", True)])
    spans[0].attributes.add(key="cache.key", value=AnyValue(bytes_value=b"k" * 100))
    spans[0].attributes.add(
        key="db.name",
        value=AnyValue(kvlist_value=KeyValueList(values=[kv("a", 1.5), kv("b", "c")])),
    )
    spans[1].parent_span_id = spans[0].span_id
    spans[1].trace_id = spans[0].trace_id
    spans[1].status.code = 2
    spans[1].status.message = "boom"
    spans[2].trace_id = b"\0" * 16
    spans[3].end_time_unix_nano = BASE_NS + 10**15  # too far in the future
    event = spans[4].events.add(time_unix_nano=BASE_NS, name="exception")
    event.attributes.extend([kv("exception.type", "ValueError"), kv("n", 3)])
    spans[5].attributes.extend([kv("http.route", ""), kv("url.template", "/t/{id}")])
    spans[5].attributes.extend([kv("server.address", "db"), kv("http.route", "/again")])
    spans[5].links.add(trace_id=b"\1" * 16, span_id=b"\2" * 8, trace_state="a=b")
    # a string, then a number for the same key: the number wins, marked OTHER in the column
    spans[5].attributes.extend([kv("http.method", "GET"), kv("http.method", 7)])
    return request


def test_every_field_kind_decodes_the_same() -> None:
    body = rich_request().SerializeToString()
    assert agree(body)
    batch, problems = decode_native(body, LIMITS) or pytest.fail("declined")
    assert problems.rejected == 2 and problems.warnings == 2
    columns = batch.columns()
    assert columns.parent.tolist()[:2] == [-1, 0]
    assert columns.text(columns.route, 3) == "/again"
    assert columns.text(columns.peer, 3) == "db"
    assert columns.text(columns.db_statement, 0) == "SELECT " + "x" * 57
    assert columns.attributes["http.method"][3] == OTHER  # 7, after "GET"
    assert columns.attributes["cache.hit"][0] == OTHER
    assert columns.attributes["cache.hit"][1] == NONE


@pytest.mark.parametrize(
    ("name", "mutate"),
    [
        ("invalid UTF-8 in a span name", lambda b: b.replace(b"GET /items", b"GET \xff\xfe")),
        ("truncated", lambda b: b[:-3]),
        ("a stray group tag", lambda b: b + b"\x0b"),
        ("an unknown field", lambda b: b + b"\xa8\x1f\x01"),
        ("spans sent as a varint", lambda b: b.replace(b"\x12", b"\x10", 1)),
        ("empty", lambda b: b""),
    ],
)
def test_edge_cases_decode_the_same_or_are_declined(name: str, mutate: Any) -> None:
    request = trace_request(spans=2)
    body = mutate(request.SerializeToString())
    agree(body)  # asserts inside: same answer, or declined


def test_a_submessage_sent_twice_is_merged_by_the_protobuf_path() -> None:
    # Status{code=2} then Status{message="x"}: protobuf merges them into one status
    span = trace_request(spans=1).resource_spans[0].scope_spans[0].spans[0]
    body = span.SerializeToString() + b"\x7a\x02\x18\x02" + b"\x7a\x03\x12\x01x"
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", "s"))
    scope_body = b"\x12" + _varint(len(body)) + body
    rs_body = rs.SerializeToString() + b"\x12" + _varint(len(scope_body)) + scope_body
    full = b"\x0a" + _varint(len(rs_body)) + rs_body
    assert not agree(full)  # declined ...
    batch, _ = Decoder(LIMITS).spans_from_bytes(full)  # ... and decoded by protobuf
    assert (batch.spans[0].status_code, batch.spans[0].status_message) == (2, "x")


def _scope_spans_request(scope_body: bytes) -> bytes:
    """A request of one resource whose one ScopeSpans has exactly ``scope_body``'s bytes."""
    rs = ExportTraceServiceRequest().resource_spans.add()
    rs.resource.attributes.append(kv("service.name", "s"))
    rs_body = rs.SerializeToString() + b"\x12" + _varint(len(scope_body)) + scope_body
    return b"\x0a" + _varint(len(rs_body)) + rs_body


@pytest.mark.parametrize(
    ("order", "decoded"),
    [
        ("scope, spans, schema URL", True),  # the order serializers write: one pass
        ("spans, scope, schema URL", True),  # the scope last: found by a first pass
        ("scope, spans, scope", False),  # a scope sent twice is merged: declined
        ("spans, scope, spans, scope", False),
        ("scope, spans, bad schema URL", False),  # invalid UTF-8 after the spans
    ],
)
def test_a_scope_is_read_wherever_it_stands_among_its_spans(order: str, decoded: bool) -> None:
    spans = trace_request(spans=2).resource_spans[0].scope_spans[0].spans
    field = {
        "scope": b"\x0a\x05\x0a\x03lib",  # InstrumentationScope{name="lib"}
        "spans": b"".join(b"\x12" + _varint(s.ByteSize()) + s.SerializeToString() for s in spans),
        "schema URL": b"\x1a\x03url",
        "bad schema URL": b"\x1a\x02\xff\xfe",
    }
    body = _scope_spans_request(b"".join(field[part] for part in order.split(", ")))
    assert agree(body) is decoded  # the same answer as the protobuf path, or declined
    if decoded:
        batch = protobuf_path(body)[0]
        assert [s.scope_name for s in batch.spans] == ["lib", "lib"]


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def test_seeded_corruptions_decode_the_same_or_are_declined() -> None:
    rng = random.Random(18)
    base = rich_request().SerializeToString()
    decoded = 0
    for _ in range(1500):
        body = bytearray(base)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(body))
            action = rng.randrange(3)
            if action == 0:
                body[at] = rng.randrange(256)
            elif action == 1:
                del body[at : at + rng.randint(1, 8)]
            else:
                body[at:at] = rng.randbytes(rng.randint(1, 4))
        decoded += agree(bytes(body))
    assert decoded > 100  # most corruptions still parse; those must match exactly


def test_spans_from_bytes_names_an_unparsable_body() -> None:
    with pytest.raises(DecodeError, match="cannot decode OTLP traces protobuf"):
        Decoder(LIMITS).spans_from_bytes(b"\x0a\x05\x01")


def test_columns_of_a_protobuf_decoded_batch_are_built_on_demand() -> None:
    batch, _ = protobuf_path(rich_request().SerializeToString())
    assert batch.columnar is None
    columns = batch.columns()
    assert batch.columns() is columns and len(columns) == len(batch)
    assert columns.text(columns.service, 0) == "checkout"


def test_the_environment_switch_turns_the_native_decoder_off() -> None:
    import subprocess
    import sys

    code = (
        "from otlp_builders import trace_request\n"
        "from otel_perf.decode import Decoder\n"
        "batch, _ = Decoder().spans_from_bytes(trace_request(spans=2).SerializeToString())\n"
        "print(len(batch), batch.columnar is None)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"OTEL_PERF_NATIVE_DECODE": "0", "PYTHONPATH": str(Path(__file__).parent)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.split() == ["2", "True"]  # decoded by protobuf: columns built on demand


def test_parents_are_found_when_a_span_id_equals_half_its_trace_id() -> None:
    """Sequential test ids: each root's span id is its trace id's low half."""
    request = trace_request(spans=8, seed=7)
    spans = request.resource_spans[0].scope_spans[0].spans
    for i, span in enumerate(spans):
        trace = 1 + i % 4
        span.trace_id = trace.to_bytes(16, "big")
        span.span_id = (trace if i < 4 else 10 + trace).to_bytes(8, "big")
        span.parent_span_id = b"" if i < 4 else trace.to_bytes(8, "big")
    spans[7].span_id = spans[7].parent_span_id  # repeats row 3's id: row 3 is its parent
    body = request.SerializeToString()
    assert agree(body)
    expected = [-1, -1, -1, -1, 0, 1, 2, 3]
    assert protobuf_path(body)[0].columns().parent.tolist() == expected


def test_a_repeated_span_id_is_the_parent_at_its_first_row() -> None:
    def ids(values: list[int], size: int) -> Any:
        raw = b"".join(v.to_bytes(size, "big") for v in values)
        return np.frombuffer(raw, np.uint8).reshape(-1, size)

    # row 1 repeats row 0 and names it as parent; row 4 names itself
    trace = ids([5, 5, 5, 6, 7], 16)
    span, parent = ids([1, 1, 2, 2, 3], 8), ids([0, 1, 1, 1, 3], 8)
    assert parent_rows(trace, span, parent).tolist() == [-1, 0, 0, -1, -1]


def test_columns_of_hand_made_records_with_odd_id_lengths() -> None:
    from trace_builder import span

    spans = [span("a", None, 0, 5), span("b", "a", 1, 4)]
    spans[0].span_id, spans[1].parent_span_id = b"\x01\x02\x03", b"x" * 12
    columns = from_records(spans)
    assert columns.span_id[0].tobytes() == b"\x01\x02\x03" + b"\0" * 5  # padded
    assert columns.parent_span_id[1].tobytes() == b"x" * 8  # cut
    assert columns.span_id[1].tobytes() == spans[1].span_id[:8].ljust(8, b"\0")


def test_the_error_column_is_the_semantic_convention_rule() -> None:
    from trace_builder import span

    from otel_perf.model import SpanKind, StatusCode
    from otel_perf.semconv import is_error

    server, client = SpanKind.SERVER, SpanKind.CLIENT
    spans = [
        span("a", None, 0, 5, kind=server, attrs={"http.response.status_code": 503}),
        span("b", None, 0, 5, kind=server, attrs={"http.status_code": "500"}),  # old name
        span("c", None, 0, 5, kind=server, attrs={"http.response.status_code": 404}),
        span("d", None, 0, 5, kind=client, attrs={"http.response.status_code": 500}),
        span("e", None, 0, 5, kind=client, status=StatusCode.ERROR),
        span("f", None, 0, 5, kind=server, attrs={"http.response.status_code": "n/a"}),
    ]
    columns = from_records(spans)
    errors = columns.errors(spans)
    assert errors.tolist() == [is_error(s) for s in spans] == [1, 1, 0, 0, 1, 0]
    assert columns.errors(spans) is errors  # once per batch
