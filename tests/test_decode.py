"""Decoding OTLP protobuf and JSON into batches, and rejecting bad items one by one."""

from __future__ import annotations

import json

import pytest
from google.protobuf import json_format
from otlp_builders import BASE_NS, kv, logs_request, metrics_request, trace_request

from otel_perf.decode import (
    DecodeError,
    Decoder,
    Limits,
    message_to_json,
    parse_json,
    parse_protobuf,
)
from otel_perf.model import MetricType, SpanKind


def test_spans_keep_ids_resource_and_wanted_attributes() -> None:
    request = trace_request(spans=2)
    request.resource_spans[0].scope_spans[0].spans[0].attributes.append(kv("ignored.key", "x"))
    batch, problems = Decoder().spans(request)
    assert problems.rejected == 0
    span = batch.spans[0]
    assert span.service_name == "checkout"
    assert span.resource.service_version == "1.0"
    assert span.kind == SpanKind.SERVER
    assert len(span.trace_id) == 16 and len(span.span_id) == 8
    assert span.duration_ns == 5_000_000
    assert span.attributes == {
        "http.route": "/items/{id}",
        "http.request.method": "GET",
        "url.path": "/items/1",
    }


def test_bad_spans_are_rejected_and_the_rest_kept() -> None:
    request = trace_request(spans=4)
    spans = request.resource_spans[0].scope_spans[0].spans
    spans[0].trace_id = b"\x01" * 15
    spans[1].end_time_unix_nano = 0
    spans[2].span_id = b""
    batch, problems = Decoder().spans(request)
    assert len(batch) == 1
    assert problems.rejected == 3
    message = problems.message()
    assert "spans[0]: trace_id must be 16 bytes, got 15" in message
    assert "spans[1]: end_time_unix_nano is zero" in message
    assert "spans[2]: span_id must be 8 bytes, got 0" in message


def test_long_attribute_values_are_truncated_with_a_warning() -> None:
    request = trace_request(spans=1)
    request.resource_spans[0].scope_spans[0].spans[0].attributes.append(
        kv("db.statement", "x" * 10_000)
    )
    batch, problems = Decoder(Limits(max_attribute_value_bytes=100)).spans(request)
    assert len(batch.spans[0].attributes["db.statement"]) == 100  # type: ignore[arg-type]
    assert problems.rejected == 0 and problems.warnings == 1
    assert "truncated" in problems.message()


def test_metrics_of_each_kind() -> None:
    request = metrics_request(points=2)
    scope = request.resource_metrics[0].scope_metrics[0]
    hist = scope.metrics.add(name="http.server.request.duration", unit="s")
    dp = hist.histogram.data_points.add(time_unix_nano=BASE_NS, count=3, sum=0.6)
    dp.explicit_bounds.extend([0.1, 0.5])
    dp.bucket_counts.extend([1, 1, 1])
    exp = scope.metrics.add(name="latency")
    edp = exp.exponential_histogram.data_points.add(time_unix_nano=BASE_NS, count=2, scale=3)
    edp.positive.offset = 4
    edp.positive.bucket_counts.extend([1, 1])
    counter = scope.metrics.add(name="requests")
    counter.sum.is_monotonic = True
    counter.sum.aggregation_temporality = 2
    counter.sum.data_points.add(time_unix_nano=BASE_NS, as_double=5.0)
    scope.metrics.add(name="")  # rejected: no name
    batch, problems = Decoder().metrics(request)
    types = [p.type for p in batch.points]
    assert types == [
        MetricType.GAUGE,
        MetricType.GAUGE,
        MetricType.HISTOGRAM,
        MetricType.EXPONENTIAL_HISTOGRAM,
        MetricType.SUM,
    ]
    assert batch.points[2].bucket_counts == (1, 1, 1) and batch.points[2].bounds == (0.1, 0.5)
    assert batch.points[3].positive is not None and batch.points[3].positive.offset == 4
    assert batch.points[4].is_monotonic and batch.points[4].value == 5.0
    assert problems.rejected == 1 and "metric name is empty" in problems.message()


def test_logs_carry_event_names() -> None:
    batch, problems = Decoder().logs(logs_request(records=2, event_name="app.checkout"))
    assert [r.event_name for r in batch.records] == ["app.checkout", "app.checkout"]
    assert problems.rejected == 0


def test_otlp_json_with_hex_ids_round_trips() -> None:
    request = trace_request(spans=2)
    document = message_to_json(request)
    span_doc = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span_doc["traceId"] == request.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()
    parsed = parse_json("traces", json.dumps(document).encode())
    assert parsed == request


def test_otlp_json_integer_enums_and_string_int64() -> None:
    document = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": "x",
                                "kind": 2,
                                "startTimeUnixNano": "1544712660000000000",
                                "endTimeUnixNano": "1544712661000000000",
                                "unknownField": 1,
                            }
                        ]
                    }
                ]
            }
        ]
    }
    batch, _ = Decoder().spans(parse_json("traces", json.dumps(document)))  # type: ignore[arg-type]
    assert batch.spans[0].kind == 2
    assert batch.spans[0].end_ns - batch.spans[0].start_ns == 1_000_000_000


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"{not json", "cannot decode OTLP traces JSON"),
        (b"[1, 2]", "must be an object"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
            "expected a hex string",
        ),
        (b'{"resourceSpans": 5}', "invalid OTLP traces JSON"),
    ],
)
def test_bad_json_is_a_decode_error(body: bytes, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        parse_json("traces", body)


def test_truncated_protobuf_is_a_decode_error() -> None:
    data = trace_request(spans=3).SerializeToString()
    with pytest.raises(DecodeError, match="cannot decode OTLP traces protobuf"):
        parse_protobuf("traces", data[: len(data) // 2 + 3])


def test_json_format_agrees_with_protobuf_for_metrics() -> None:
    request = metrics_request()
    assert parse_json("metrics", json_format.MessageToJson(request)) == request


def test_items_far_in_the_future_are_rejected() -> None:
    limits = Limits(max_future_s=3600, clock=lambda: BASE_NS)
    request = trace_request(spans=3, start_ns=BASE_NS)
    request.resource_spans[0].scope_spans[0].spans[1].end_time_unix_nano = (
        BASE_NS + 2 * 3600 * 10**9
    )
    batch, problems = Decoder(limits).spans(request)
    assert len(batch) == 2 and problems.rejected == 1
    assert "spans[1]: end_time_unix_nano is too far in the future" in problems.message()
    metrics = metrics_request(points=2)
    metrics.resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points[0].time_unix_nano = (
        BASE_NS + 10**18
    )
    points, problems = Decoder(limits).metrics(metrics)
    assert len(points) == 1 and "too far in the future" in problems.message()
