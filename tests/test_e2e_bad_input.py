"""Bad input against a running otel-perf process: each gets the documented status or a
partial success with a message, valid items in the same request are kept, and the
process stays up."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator

import grpc
import httpx
import pytest
from e2e import DEFAULT, SidecarProcess, start_sidecar
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from otlp_builders import kv, trace_request

from otel_perf.decode import message_to_json

pytestmark = pytest.mark.e2e
TOKEN = "t0ken-for-tests"
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
PROTOBUF = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {TOKEN}"}
JSON = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarProcess]:
    config = DEFAULT.replace(
        "receivers:\n  otlp:\n",
        "receivers:\n  otlp:\n    auth:\n      bearer_token: ${{env:TOKEN}}\n",
    )
    process = start_sidecar(tmp_path_factory.mktemp("bad"), config, TOKEN=TOKEN)
    yield process
    assert process.stop() == 0, process.log()


@pytest.fixture
def http(sidecar: SidecarProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sidecar.http_url, timeout=30) as client:
        yield client


@pytest.fixture
def export(sidecar: SidecarProcess) -> Iterator[grpc.UnaryUnaryMultiCallable]:
    with grpc.insecure_channel(sidecar.grpc_endpoint) as channel:
        yield channel.unary_unary(EXPORT)


AUTH = (("authorization", f"Bearer {TOKEN}"),)


def test_truncated_protobuf(http: httpx.Client, export: grpc.UnaryUnaryMultiCallable) -> None:
    data = trace_request(spans=5).SerializeToString()
    assert http.post("/v1/traces", content=data[:-7], headers=PROTOBUF).status_code == 400
    with pytest.raises(grpc.RpcError) as caught:
        export(data[:-7], metadata=AUTH)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cannot decode" in caught.value.details()


def test_wrong_content_type_and_invalid_json(http: httpx.Client) -> None:
    wrong = http.post(
        "/v1/traces", content=b"x", headers={**PROTOBUF, "Content-Type": "text/plain"}
    )
    assert wrong.status_code == 415
    bad = http.post("/v1/traces", content=b'{"resourceSpans": [', headers=JSON)
    assert bad.status_code == 400
    assert "JSON" in bad.json()["message"]


def test_bad_ids_and_zero_end_time_are_partial_successes(
    sidecar: SidecarProcess, http: httpx.Client, export: grpc.UnaryUnaryMultiCallable
) -> None:
    before = sidecar.metrics()["receiver"]["accepted"]["spans"]
    request = trace_request(spans=4, service="partial")
    spans = request.resource_spans[0].scope_spans[0].spans
    spans[0].span_id = b"\x01\x02\x03"
    spans[1].end_time_unix_nano = 0
    reply = ExportTraceServiceResponse.FromString(
        export(request.SerializeToString(), metadata=AUTH)
    )
    assert reply.partial_success.rejected_spans == 2
    assert "span_id must be 8 bytes" in reply.partial_success.error_message
    assert "end_time_unix_nano is zero" in reply.partial_success.error_message
    document = message_to_json(request)
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] = "abcd"
    answer = http.post("/v1/traces", content=json.dumps(document), headers=JSON)
    assert answer.status_code == 200
    assert int(answer.json()["partialSuccess"]["rejectedSpans"]) == 2  # int64: JSON string
    sidecar.wait_for(lambda m: m["receiver"]["accepted"]["spans"] == before + 4)
    assert sidecar.metrics()["receiver"]["rejected"]["spans"] >= 4


def test_ten_megabyte_attribute_is_truncated_and_span_kept(
    sidecar: SidecarProcess, http: httpx.Client
) -> None:
    request = trace_request(spans=2, service="huge")
    request.resource_spans[0].scope_spans[0].spans[0].attributes.append(
        kv("db.statement", "x" * 10_000_000)
    )
    answer = http.post(
        "/v1/traces",
        content=gzip.compress(request.SerializeToString()),
        headers={**PROTOBUF, "Content-Encoding": "gzip"},
    )
    assert answer.status_code == 200
    sidecar.wait_for(lambda m: m["services"]["counts"].get("huge") == 2)


def test_body_over_the_limit(http: httpx.Client, export: grpc.UnaryUnaryMultiCallable) -> None:
    big = b"\x00" * (21 * 1024 * 1024)
    assert http.post("/v1/traces", content=big, headers=PROTOBUF).status_code == 413
    with pytest.raises(grpc.RpcError) as caught:
        export(b"\x0a" + b"\x00" * (17 * 1024 * 1024), metadata=AUTH)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_wrong_bearer_token(http: httpx.Client, export: grpc.UnaryUnaryMultiCallable) -> None:
    body = trace_request(spans=1).SerializeToString()
    headers = {**PROTOBUF, "Authorization": "Bearer wrong"}
    assert http.post("/v1/traces", content=body, headers=headers).status_code == 401
    with pytest.raises(grpc.RpcError) as caught:
        export(body, metadata=(("authorization", "Bearer wrong"),))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_process_is_still_up_and_counting(sidecar: SidecarProcess, http: httpx.Client) -> None:
    body = trace_request(spans=3, service="after").SerializeToString()
    assert http.post("/v1/traces", content=body, headers=PROTOBUF).status_code == 200
    sidecar.wait_for(lambda m: m["services"]["counts"].get("after") == 3)
    assert sidecar.alive()
