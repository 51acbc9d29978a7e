"""OTLP/HTTP receiver on a real loopback socket: SDK exporters, encodings, limits, auth, TLS."""

from __future__ import annotations

import asyncio
import gzip
import json
import ssl
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.rpc import code_pb2, status_pb2
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from pydantic import SecretStr
from receiver_support import (
    TRACE_ID,
    FakeSink,
    check_sdk_delivery,
    make_certs,
    mtls_settings,
    sdk_spans,
    span_request,
)

from otel_perf.config.models import AuthSettings, HttpSettings, OTLPReceiverConfig, Protocols
from otel_perf.decode import DecodeError, message_to_json
from otel_perf.receiver._ingest import MiB
from otel_perf.receiver.http import HttpReceiver, decompress

PROTOBUF = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}


class Server:
    """A started receiver, its sink and its base URL."""

    def __init__(self, receiver: HttpReceiver, sink: FakeSink, scheme: str = "http") -> None:
        self.receiver = receiver
        self.sink = sink
        host = "localhost" if scheme == "https" else "127.0.0.1"
        self.url = f"{scheme}://{host}:{receiver.port}"

    def post(self, signal: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        with httpx.Client(timeout=30) as client:
            return client.post(f"{self.url}/v1/{signal}", content=body, headers=headers)


Start = Callable[..., Server]


def make_config(http: dict[str, Any] | None = None, **config: Any) -> OTLPReceiverConfig:
    settings = HttpSettings(**({"endpoint": "127.0.0.1:0"} | (http or {})))
    return OTLPReceiverConfig(protocols=Protocols(http=settings), **config)


@pytest.fixture
def start() -> Iterator[Start]:
    """Start receivers on 127.0.0.1:0 in background threads; all are stopped at teardown."""
    receivers: list[HttpReceiver] = []

    def _start(http: dict[str, Any] | None = None, **config: Any) -> Server:
        sink = FakeSink()
        receiver = HttpReceiver(make_config(http, **config), sink)
        receivers.append(receiver)
        receiver.start()
        return Server(receiver, sink, "https" if http and "tls" in http else "http")

    yield _start
    for receiver in receivers:
        receiver.stop(grace=1.0)


def json_spans(*spans: dict[str, Any]) -> bytes:
    """OTLP JSON: hex ids, lowerCamelCase keys, 64-bit integers as strings."""
    defaults = {"traceId": TRACE_ID.hex(), "startTimeUnixNano": "1000", "endTimeUnixNano": "2000"}
    document = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]
                },
                "scopeSpans": [{"scope": {"name": "t"}, "spans": [defaults | s for s in spans]}],
            }
        ]
    }
    return json.dumps(document).encode()


def status_of(response: httpx.Response) -> status_pb2.Status:
    if response.headers["content-type"] == "application/json":
        document = response.json()
        return status_pb2.Status(code=document["code"], message=document["message"])
    return status_pb2.Status.FromString(response.content)


# -- real SDK exporters --------------------------------------------------------------------


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_sdk_exporters_deliver_every_item(start: Start, compression: Compression) -> None:
    server = start()
    url = server.url + "/v1/"
    exporters = (
        OTLPSpanExporter(endpoint=url + "traces", compression=compression),
        OTLPMetricExporter(endpoint=url + "metrics", compression=compression),
        OTLPLogExporter(endpoint=url + "logs", compression=compression),
    )
    check_sdk_delivery(exporters, server.sink)
    assert server.sink.telemetry.requests["http:ok"] == 3


def test_port_zero_reports_the_bound_port(start: Start) -> None:
    server = start()
    assert server.receiver.port > 0


def test_health(start: Start) -> None:
    server = start()
    response = httpx.get(f"{server.url}/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


# -- encodings and errors -----------------------------------------------------------------


def test_success_answers_in_the_request_encoding(start: Start) -> None:
    server = start()
    response = server.post("traces", span_request({}).SerializeToString(), PROTOBUF)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    assert not ExportTraceServiceResponse.FromString(response.content).HasField("partial_success")
    response = server.post("traces", json_spans({"spanId": "0102030405060708"}), JSON)
    assert response.status_code == 200 and response.json() == {}


def test_truncated_protobuf_is_400_with_a_protobuf_status(start: Start) -> None:
    server = start()
    body = span_request({}, {}).SerializeToString()[:-7]
    response = server.post("traces", body, PROTOBUF)
    assert response.status_code == 400
    status = status_pb2.Status.FromString(response.content)
    assert status.code == code_pb2.INVALID_ARGUMENT
    assert "cannot decode OTLP traces protobuf" in status.message
    assert server.sink.batches == [] and server.sink.telemetry.requests["http:invalid"] == 1


def test_invalid_json_is_400_with_a_json_status(start: Start) -> None:
    server = start()
    response = server.post("traces", b'{"resourceSpans": [', JSON)
    assert response.status_code == 400
    document = response.json()
    assert document["code"] == 3 and "cannot decode OTLP traces JSON" in document["message"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", ""])
def test_unsupported_content_type_is_415(start: Start, content_type: str) -> None:
    server = start()
    response = server.post("traces", b"{}", {"content-type": content_type})
    assert response.status_code == 415
    assert "application/x-protobuf or application/json" in status_of(response).message
    assert server.sink.telemetry.requests["http:unsupported_media_type"] == 1


def test_content_type_parameters_are_ignored(start: Start) -> None:
    server = start()
    headers = {"content-type": "application/json; charset=utf-8"}
    assert server.post("traces", json_spans({"spanId": "0102030405060708"}), headers).is_success


def test_unsupported_content_encoding_is_415(start: Start) -> None:
    server = start()
    headers = PROTOBUF | {"content-encoding": "br"}
    assert server.post("traces", b"", headers).status_code == 415


def test_non_post_is_405(start: Start) -> None:
    server = start()
    response = httpx.get(f"{server.url}/v1/metrics", headers=JSON)
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert "use POST" in response.json()["message"]


def test_otlp_json_with_hex_ids(start: Start) -> None:
    server = start()
    body = json_spans({"spanId": "0102030405060708", "parentSpanId": "1112131415161718"})
    assert server.post("traces", body, JSON).status_code == 200
    (span,) = server.sink.spans()
    assert span.trace_id == TRACE_ID
    assert span.span_id == bytes.fromhex("0102030405060708")
    assert span.parent_span_id == bytes.fromhex("1112131415161718")


def test_wrong_length_id_is_a_partial_success(start: Start) -> None:
    server = start()
    spans = ({"spanId": "0101010101010101"}, {"spanId": "0102"}, {"spanId": "0303030303030303"})
    response = server.post("traces", json_spans(*spans), JSON)
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1"  # proto3 JSON writes int64 as a string
    assert "resource_spans[0].scope_spans[0].spans[1]" in partial["errorMessage"]
    assert "span_id must be 8 bytes, got 2" in partial["errorMessage"]
    assert [s.span_id.hex() for s in server.sink.spans()] == ["01" * 8, "03" * 8]
    assert server.sink.telemetry.rejected["spans"] == 1
    assert server.sink.telemetry.requests["http:partial"] == 1


def test_zero_end_time_is_rejected(start: Start) -> None:
    server = start()
    request = span_request({"end_time_unix_nano": 0}, {})
    response = server.post("traces", request.SerializeToString(), PROTOBUF)
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 1
    assert "end_time_unix_nano is zero" in partial.error_message
    assert [s.name for s in server.sink.spans()] == ["span-1"]


def test_huge_attribute_value_is_truncated_with_a_warning(start: Start) -> None:
    server = start({"max_request_body_size_mib": 32})
    route = "/x" * 5_000_000  # 10 MB
    request = span_request({"attributes": {"http.route": route}})
    response = server.post("traces", request.SerializeToString(), PROTOBUF)
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 0
    assert "value longer than 65536 bytes was truncated" in partial.error_message
    (span,) = server.sink.spans()
    assert span.attributes["http.route"] == route[:65536]


# -- size limits and compression ----------------------------------------------------------


def test_body_over_the_limit_is_413(start: Start) -> None:
    server = start({"max_request_body_size_mib": 1})
    response = server.post("traces", b"\0" * (2 * MiB), PROTOBUF)
    assert response.status_code == 413
    assert status_of(response).message == f"request body exceeds {MiB} bytes"
    assert server.sink.telemetry.requests["http:too_large"] == 1


def test_chunked_body_over_the_limit_is_413(start: Start) -> None:
    server = start({"max_request_body_size_mib": 1})

    def chunks() -> Iterator[bytes]:  # no Content-Length: the receiver must count
        for _ in range(64):
            yield b"\0" * 65536

    with httpx.Client(timeout=30) as client:
        response = client.post(f"{server.url}/v1/traces", content=chunks(), headers=PROTOBUF)
    assert response.status_code == 413


def test_gzip_body_is_accepted(start: Start) -> None:
    server = start()
    body = gzip.compress(span_request({}, {}).SerializeToString())
    response = server.post("traces", body, PROTOBUF | {"content-encoding": "gzip"})
    assert response.status_code == 200 and len(server.sink.spans()) == 2


def test_a_batch_carries_the_uncompressed_protobuf_size_of_its_request(start: Start) -> None:
    server = start()
    request = span_request({}, {"attributes": {"http.route": "/x" * 100}})
    body = request.SerializeToString()
    server.post("traces", gzip.compress(body), PROTOBUF | {"content-encoding": "gzip"})
    server.post("traces", json.dumps(message_to_json(request)).encode(), JSON)
    assert [b.wire_bytes for b in server.sink.batches] == [len(body), len(body)]


def test_gzip_bomb_is_413(start: Start) -> None:
    server = start({"max_request_body_size_mib": 1})
    body = gzip.compress(b"\0" * (64 * MiB))  # ~64 KB on the wire
    assert len(body) < MiB
    response = server.post("traces", body, JSON | {"content-encoding": "gzip"})
    assert response.status_code == 413 and response.json()["code"] == 3
    assert server.sink.batches == []


def test_corrupt_gzip_is_400(start: Start) -> None:
    server = start()
    body = gzip.compress(b"x" * 1000)[:-12]
    response = server.post("traces", body, PROTOBUF | {"content-encoding": "gzip"})
    assert response.status_code == 400
    assert "truncated gzip body" in status_of(response).message


def test_decompress_limits() -> None:
    assert decompress(gzip.compress(b"a" * 100), "gzip", 100) == b"a" * 100
    assert decompress(zlib.compress(b"b" * 10), "deflate", 10) == b"b" * 10
    two_members = gzip.compress(b"ab") + gzip.compress(b"cd")
    assert decompress(two_members, "gzip", 4) == b"abcd"
    with pytest.raises(Exception, match="exceeds 4 bytes"):
        decompress(two_members + gzip.compress(b"e"), "gzip", 4)
    with pytest.raises(DecodeError, match="invalid gzip body"):
        decompress(b"not gzip at all", "gzip", 100)


# -- auth ---------------------------------------------------------------------------------


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "s3cret", "Basic s3cret"])
def test_missing_or_wrong_token_is_401(start: Start, authorization: str | None) -> None:
    server = start(auth=AuthSettings(bearer_token=SecretStr("s3cret")))
    headers = PROTOBUF | ({"authorization": authorization} if authorization else {})
    response = server.post("traces", span_request({}).SerializeToString(), headers)
    assert response.status_code == 401
    assert status_of(response).code == code_pb2.UNAUTHENTICATED
    assert server.sink.batches == []
    assert server.sink.telemetry.requests["http:unauthenticated"] == 1


def test_right_token_is_accepted(start: Start) -> None:
    server = start(auth=AuthSettings(bearer_token=SecretStr("s3cret")))
    exporter = OTLPSpanExporter(
        endpoint=f"{server.url}/v1/traces", headers={"authorization": "Bearer s3cret"}
    )
    try:
        assert exporter.export(sdk_spans(2)).name == "SUCCESS"
    finally:
        exporter.shutdown()
    assert len(server.sink.spans()) == 2


# -- back-pressure ------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [PROTOBUF, JSON])
def test_full_queue_is_503_with_retry_after(start: Start, headers: dict[str, str]) -> None:
    server = start(retry_after=1.5)
    server.sink.accepting = False
    body = (
        span_request({}).SerializeToString()
        if headers is PROTOBUF
        else json_spans({"spanId": "0102030405060708"})
    )
    response = server.post("traces", body, headers)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"  # whole seconds, rounded up
    status = status_of(response)
    assert status.code == code_pb2.UNAVAILABLE and "queue is full" in status.message
    if headers is PROTOBUF:
        info = RetryInfo()
        assert status_pb2.Status.FromString(response.content).details[0].Unpack(info)
        assert info.retry_delay.ToMilliseconds() == 1500
    assert server.sink.telemetry.requests["http:refused"] == 1


# -- lifecycle ----------------------------------------------------------------------------


def test_port_in_use_raises(start: Start) -> None:
    first = start()
    second = HttpReceiver(make_config({"endpoint": f"127.0.0.1:{first.receiver.port}"}), FakeSink())
    with pytest.raises(OSError, match="could not start"):
        second.start()


def test_stop_closes_the_port(start: Start) -> None:
    server = start()
    server.receiver.stop(grace=1.0)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/health")


def test_serve_on_an_existing_loop() -> None:
    receiver = HttpReceiver(make_config(), FakeSink())

    async def scenario() -> int:
        task = asyncio.create_task(receiver.serve())
        deadline = time.monotonic() + 10
        while receiver.port == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{receiver.port}/health")
        receiver.stop()
        await asyncio.wait_for(task, 10)
        return response.status_code

    assert asyncio.run(scenario()) == 200


# -- TLS ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_certs(tmp_path_factory.mktemp("pki"))


def test_sdk_exporter_over_mtls(
    start: Start, pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests lets these variables override the exporter's certificate_file (psf/requests#3829)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    server = start({"tls": mtls_settings(pki)})
    exporter = OTLPSpanExporter(
        endpoint=f"{server.url}/v1/traces",
        certificate_file=str(pki["ca"]),
        client_certificate_file=str(pki["client"]),
        client_key_file=str(pki["client_key"]),
    )
    try:
        assert exporter.export(sdk_spans(3)).name == "SUCCESS"
    finally:
        exporter.shutdown()
    assert len(server.sink.spans()) == 3


def test_mtls_refuses_a_client_without_a_certificate(start: Start, pki: dict[str, Path]) -> None:
    server = start({"tls": mtls_settings(pki)})
    context = ssl.create_default_context(cafile=str(pki["ca"]))
    with httpx.Client(verify=context) as client, pytest.raises(httpx.TransportError):
        client.get(f"{server.url}/health")
    context.load_cert_chain(str(pki["client"]), str(pki["client_key"]))
    with httpx.Client(verify=context) as client:
        assert client.get(f"{server.url}/health").status_code == 200
