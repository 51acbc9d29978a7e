"""Shared pieces of the ingest benchmark: the request pool, gRPC settings, sending.

A client (:mod:`benchmarks._fresh_ids`) runs in its own process and sends
pre-serialised ``ExportTraceServiceRequest`` bytes over a raw channel, so the
client spends nothing on serialisation and the receiver's cost is what is measured.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans, Span, Status

from otel_perf.config.models import GrpcSettings

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
MiB = 1024 * 1024
# the same as otel-perf's receiver defaults, so the decode-only baseline is comparable
WORKERS = GrpcSettings().workers
MAX_MESSAGE_BYTES = GrpcSettings().max_recv_msg_size_mib * MiB
GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]

SPANS_PER_REQUEST = 512
SPREAD_NS = 30 * 10**9  # traces of a request start within this
MAX_TRACE_NS = 250 * 10**6  # and last at most this
TRACE_SIZE = 8  # spans per trace: 1 SERVER root, 3 INTERNAL, 4 CLIENT
CONNECT_TIMEOUT_S = 15.0
START_TIMEOUT_S = 120.0
CALL_TIMEOUT_S = 30.0
MAX_RETRIES_PER_REQUEST = 200
BACKOFF_S = 0.005
MAX_BACKOFF_S = 0.1

SERVICES = ("checkout", "cart", "catalog", "payments", "accounts")
# (method, route, concrete path template)
ROUTES = (
    ("GET", "/api/products/{id}", "/api/products/{}"),
    ("GET", "/api/products", "/api/products"),
    ("POST", "/api/cart/{id}/items", "/api/cart/{}/items"),
    ("GET", "/api/cart/{id}", "/api/cart/{}"),
    ("POST", "/api/checkout", "/api/checkout"),
    ("GET", "/api/users/{id}", "/api/users/{}"),
    ("PUT", "/api/users/{id}/address", "/api/users/{}/address"),
    ("POST", "/api/payments", "/api/payments"),
)
INTERNAL_NAMES = ("validate request", "load data", "render response")
USER_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "python-requests/2.32.3",
    "okhttp/4.12.0",
)
STATUS_CODES = (200,) * 16 + (201, 204, 304, 400, 404, 500, 503)


# -- the request pool --------------------------------------------------------


def build_pool(
    count: int,
    seed: int,
    spans: int = SPANS_PER_REQUEST,
    start_ns: int | None = None,
    spread_ns: int = SPREAD_NS,
) -> list[bytes]:
    """``count`` distinct serialised ExportTraceServiceRequests, reproducible from ``seed``.

    Request ``i`` carries one resource of service ``SERVICES[i % len(SERVICES)]``,
    one scope and ``spans`` spans in traces of :data:`TRACE_SIZE`, each trace
    starting within ``spread_ns`` after ``start_ns`` (a minute ago by default).
    """
    rng = random.Random(seed)
    base_ns = time.time_ns() - 60 * 10**9 if start_ns is None else start_ns
    return [
        build_request(
            rng, SERVICES[i % len(SERVICES)], spans, base_ns, spread_ns
        ).SerializeToString()
        for i in range(count)
    ]


def build_request(
    rng: random.Random, service: str, spans: int, base_ns: int, spread_ns: int = SPREAD_NS
) -> ExportTraceServiceRequest:
    """One request: a resource with 5 attributes, one scope, ``spans`` spans."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    _set_attributes(
        resource_spans.resource.attributes,
        {
            "service.name": service,
            "service.version": f"1.{SERVICES.index(service)}.{rng.randrange(10)}",
            "deployment.environment.name": "production",
            "host.name": f"{service}-{rng.getrandbits(32):08x}",
            "telemetry.sdk.language": "python",
        },
    )
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "opentelemetry.instrumentation.asgi"
    scope_spans.scope.version = "0.50b0"
    while len(scope_spans.spans) < spans:
        left = spans - len(scope_spans.spans)
        _add_trace(rng, scope_spans, service, base_ns, left, spread_ns)
    return request


def _add_trace(
    rng: random.Random,
    scope_spans: ScopeSpans,
    service: str,
    base_ns: int,
    limit: int,
    spread_ns: int = SPREAD_NS,
) -> None:
    """Append one trace (at most ``limit`` spans): SERVER root, INTERNAL, then CLIENT spans."""
    trace_id = _random_id(rng, 16)
    method, route, template = rng.choice(ROUTES)
    status = rng.choice(STATUS_CODES)
    attributes: dict[str, str | int] = {
        "http.request.method": method,
        "http.route": route,
        "http.response.status_code": status,
        "url.path": template.format(rng.randrange(1, 100_000)),
        "server.address": f"{service}.shop.internal",
        "network.protocol.version": rng.choice(("1.1", "2")),
        "user_agent.original": rng.choice(USER_AGENTS),
        "client.address": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
    }
    start = base_ns + rng.randrange(spread_ns)
    duration = rng.randrange(2, MAX_TRACE_NS // 10**6) * 10**6
    root = _span(rng, trace_id, b"", f"{method} {route}", Span.SPAN_KIND_SERVER)
    _set_times(root, start, duration)
    _set_attributes(root.attributes, attributes)
    if status >= 500:
        root.status.code = Status.STATUS_CODE_ERROR
    spans = [root, *_internal_spans(rng, root, attributes)]
    spans += _client_spans(rng, spans[1:], service, attributes, TRACE_SIZE - len(spans))
    scope_spans.spans.extend(spans[:limit])


def _internal_spans(rng: random.Random, root: Span, attributes: dict[str, str | int]) -> list[Span]:
    """One INTERNAL child of ``root`` per name in :data:`INTERNAL_NAMES`, one after another."""
    step = (root.end_time_unix_nano - root.start_time_unix_nano) // (len(INTERNAL_NAMES) + 1)
    spans = []
    for i, name in enumerate(INTERNAL_NAMES):
        span = _span(rng, root.trace_id, root.span_id, name, Span.SPAN_KIND_INTERNAL)
        _set_times(span, root.start_time_unix_nano + i * step, step)
        _set_attributes(span.attributes, attributes)
        spans.append(span)
    return spans


def _client_spans(
    rng: random.Random,
    parents: list[Span],
    service: str,
    attributes: dict[str, str | int],
    count: int,
) -> list[Span]:
    """``count`` CLIENT spans calling other services, children of ``parents`` in turn."""
    spans = []
    for i in range(count):
        parent = parents[i % len(parents)]
        downstream = SERVICES[(SERVICES.index(service) + 1 + i) % len(SERVICES)]
        method = str(attributes["http.request.method"])
        span = _span(rng, parent.trace_id, parent.span_id, method, Span.SPAN_KIND_CLIENT)
        call = max(1, parent.end_time_unix_nano - parent.start_time_unix_nano) // 2
        _set_times(span, parent.start_time_unix_nano + call // 4, call)
        _set_attributes(span.attributes, {**attributes, "server.address": f"{downstream}:8080"})
        spans.append(span)
    return spans


def _span(rng: random.Random, trace_id: bytes, parent_id: bytes, name: str, kind: Any) -> Span:
    return Span(
        trace_id=trace_id,
        span_id=_random_id(rng, 8),
        parent_span_id=parent_id,
        name=name,
        kind=kind,
    )


def _set_times(span: Span, start_ns: int, duration_ns: int) -> None:
    span.start_time_unix_nano = start_ns
    span.end_time_unix_nano = start_ns + duration_ns


def _random_id(rng: random.Random, size: int) -> bytes:
    """A non-zero id of ``size`` bytes (all-zero ids are invalid in OTLP)."""
    while True:
        value = rng.randbytes(size)
        if any(value):
            return value


def _set_attributes(target: Any, values: dict[str, str | int]) -> None:
    for key, value in values.items():
        attribute: KeyValue = target.add(key=key)
        if isinstance(value, int):
            attribute.value.int_value = value
        else:
            attribute.value.string_value = value


# -- ports -------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that were free a moment ago."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


# -- the client --------------------------------------------------------------


@dataclass(frozen=True)
class ClientResult:
    """What one client process did: requests sent (and accepted), retries, or an error."""

    index: int
    requests: int = 0
    retries: int = 0
    error: str | None = None


Export = Callable[..., Any]


def open_channel(address: str) -> tuple[grpc.Channel, Export]:
    """A connected insecure channel and the raw-bytes Export method on it."""
    channel = grpc.insecure_channel(address, options=GRPC_OPTIONS)
    grpc.channel_ready_future(channel).result(timeout=CONNECT_TIMEOUT_S)
    export = channel.unary_unary(EXPORT_METHOD, request_serializer=None, response_deserializer=None)
    return channel, export


def send(export: Export, payload: bytes) -> int:
    """Send one request until accepted, backing off on RESOURCE_EXHAUSTED; returns retries.

    Raises:
        grpc.RpcError: for any other status, or when the retries run out.
    """
    backoff = BACKOFF_S
    for attempt in range(MAX_RETRIES_PER_REQUEST + 1):
        try:
            export(payload, timeout=CALL_TIMEOUT_S)
            return attempt
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise
            if attempt == MAX_RETRIES_PER_REQUEST:
                raise
        time.sleep(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_S)
    raise AssertionError("not reached")
