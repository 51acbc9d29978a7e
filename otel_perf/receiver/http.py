"""OTLP/HTTP: POST /v1/traces, /v1/metrics, /v1/logs (protobuf or JSON) and GET /health.

Answers follow the OTLP/HTTP spec: the response body is encoded like the
request (protobuf or JSON); failures carry a google.rpc.Status; a full queue
is 503 with Retry-After so SDK exporters send again. Bodies are read with a
bound, and gzip is inflated with the same bound, so a client cannot make the
receiver hold more than ``max_request_body_size_mib`` of any one request.
"""

from __future__ import annotations

import json
import math
import zlib
from functools import partial

from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from otel_perf.config.models import HttpSettings, OTLPReceiverConfig, TLSSettings
from otel_perf.config.types import split_endpoint
from otel_perf.decode import DecodeError, message_to_json, parse_json
from otel_perf.receiver import Sink
from otel_perf.receiver._ingest import UNAUTHENTICATED, Ingest, MiB, queue_full_status
from otel_perf.runtime.serving import ServerThread

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# zlib wbits: 16 + MAX_WBITS reads a gzip header, MAX_WBITS a zlib one
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
# smaller bodies are decoded on the event loop: a thread hop costs more than they do
_INLINE_BYTES = 64 * 1024
# every method is routed to the handler so a wrong one is answered (and counted) by us
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class _Refusal(Exception):
    """A request answered with an error status and a google.rpc.Status body."""

    def __init__(
        self,
        http_status: int,
        status: status_pb2.Status,
        outcome: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status.message)
        self.http_status = http_status
        self.status = status
        self.outcome = outcome
        self.headers = headers or {}


def _refusal(http_status: int, code: int, message: str, outcome: str, **headers: str) -> _Refusal:
    return _Refusal(http_status, status_pb2.Status(code=code, message=message), outcome, headers)


def _too_large(limit: int) -> _Refusal:
    return _refusal(
        413, code_pb2.INVALID_ARGUMENT, f"request body exceeds {limit} bytes", "too_large"
    )


def media_type(request: Request) -> str | None:
    """The OTLP encoding named by Content-Type (parameters ignored), or None if unsupported."""
    value = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return value if value in (PROTOBUF, JSON) else None


def encode(message: Message, content_type: str) -> bytes:
    """Serialize ``message`` as OTLP protobuf or OTLP JSON."""
    if content_type == JSON:
        return json.dumps(message_to_json(message), separators=(",", ":")).encode()
    data: bytes = message.SerializeToString()
    return data


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Inflate a gzip or deflate body, refusing output over ``limit`` bytes (a zip bomb).

    Raises:
        _Refusal: 413 when the output would exceed ``limit``.
        DecodeError: when the body is not valid compressed data.
    """
    out = bytearray()
    while body:  # a gzip stream may hold several members
        inflater = zlib.decompressobj(wbits=_WBITS[encoding])
        try:
            out += inflater.decompress(body, limit + 1 - len(out))
        except zlib.error as exc:
            raise DecodeError(f"invalid {encoding} body: {exc}") from None
        if len(out) > limit:
            raise _too_large(limit)
        if not inflater.eof:
            raise DecodeError(f"truncated {encoding} body")
        body = inflater.unused_data
    return bytes(out)


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    # Content-Length may be absent (chunked) or wrong: count what actually arrives
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


class OtlpHttpHandler:
    """The /v1/* endpoints of one receiver.

    Args:
        config: the OTLP receiver settings; ``protocols.http`` defaults when unset.
        sink: where decoded batches go.
    """

    def __init__(self, config: OTLPReceiverConfig, sink: Sink) -> None:
        settings = config.protocols.http or HttpSettings()
        self.ingest = Ingest(config, sink, "http")
        self.limit = settings.max_request_body_size_mib * MiB
        self._queue_full = queue_full_status(config.retry_after, code_pb2.UNAVAILABLE)
        self._retry_after = str(math.ceil(config.retry_after))  # whole seconds, per RFC 9110

    async def __call__(self, request: Request, signal: str) -> Response:
        """Handle one export request for ``signal`` (traces, metrics or logs)."""
        content_type = media_type(request)
        try:
            response = await self._export(request, signal)
        except _Refusal as refusal:
            self.ingest.count(refusal.outcome)
            return _status_response(refusal, content_type or JSON)
        except ClientDisconnect:
            self.ingest.count("disconnected")
            return Response(status_code=400)  # nobody is left to read it
        self.ingest.count("partial" if response.HasField("partial_success") else "ok")
        return Response(encode(response, content_type or JSON), media_type=content_type)

    async def _export(self, request: Request, signal: str) -> Message:
        content_type = self._check_request(request)
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", *_WBITS):
            raise _refusal(
                415,
                code_pb2.INVALID_ARGUMENT,
                f"unsupported Content-Encoding {encoding!r}; use gzip or none",
                "unsupported_media_type",
            )
        body = await read_body(request, self.limit)
        if encoding == "identity" and len(body) < _INLINE_BYTES:
            response = self._process(signal, content_type, encoding, body)
        else:
            response = await run_in_threadpool(self._process, signal, content_type, encoding, body)
        if response is None:
            raise _Refusal(503, self._queue_full, "refused", {"Retry-After": self._retry_after})
        return response

    def _check_request(self, request: Request) -> str:
        """Method, credentials and Content-Type; returns the media type to decode."""
        if request.method != "POST":
            raise _refusal(
                405,
                code_pb2.UNIMPLEMENTED,
                f"{request.method} is not allowed on {request.url.path}; use POST",
                "method_not_allowed",
                Allow="POST",
            )
        if not self.ingest.authorized(request.headers.get("authorization")):
            raise _refusal(
                401,
                code_pb2.UNAUTHENTICATED,
                UNAUTHENTICATED,
                "unauthenticated",
                **{"WWW-Authenticate": "Bearer"},
            )
        content_type = media_type(request)
        if content_type is None:
            got = request.headers.get("content-type", "")
            raise _refusal(
                415,
                code_pb2.INVALID_ARGUMENT,
                f"unsupported Content-Type {got!r}; use {PROTOBUF} or {JSON}",
                "unsupported_media_type",
            )
        return content_type

    def _process(
        self, signal: str, content_type: str, encoding: str, body: bytes
    ) -> Message | None:
        # CPU-bound: inflate, parse, decode and submit, off the event loop for big bodies
        try:
            if encoding != "identity":
                body = decompress(body, encoding, self.limit)
            if content_type == PROTOBUF:
                return self.ingest.export_protobuf(signal, body)
            request = parse_json(signal, body)
        except DecodeError as exc:
            raise _refusal(400, code_pb2.INVALID_ARGUMENT, str(exc), "invalid") from None
        return self.ingest.export(signal, request)


def _status_response(refusal: _Refusal, content_type: str) -> Response:
    return Response(
        encode(refusal.status, content_type),
        status_code=refusal.http_status,
        headers=refusal.headers,
        media_type=content_type,
    )


async def health(request: Request) -> Response:
    """Liveness: 200 while the server is up."""
    return JSONResponse({"status": "ok"})


def http_app(config: OTLPReceiverConfig, sink: Sink) -> Starlette:
    """The OTLP/HTTP ASGI app: POST /v1/traces, /v1/metrics, /v1/logs and GET /health.

    Args:
        config: the OTLP receiver settings (body limit from ``protocols.http``).
        sink: where decoded batches go.
    """
    handler = OtlpHttpHandler(config, sink)
    routes = [
        Route(f"/v1/{signal}", partial(handler.__call__, signal=signal), methods=_ALL_METHODS)
        for signal in ("traces", "metrics", "logs")
    ]
    routes.append(Route("/health", health, methods=["GET"]))
    return Starlette(routes=routes)


def _tls_options(tls: TLSSettings | None) -> dict[str, str | None]:
    if tls is None:
        return {}
    return {
        "certfile": tls.cert_file,
        "keyfile": tls.key_file,
        "client_ca_file": tls.client_ca_file,
    }


class HttpReceiver(ServerThread):
    """OTLP/HTTP server (uvicorn) on ``protocols.http.endpoint``.

    Run it with ``await serve()`` on your own loop, or ``start()`` for a
    background thread with its own loop (returns the bound port); ``stop(grace)``
    gives in-flight requests ``grace`` seconds.

    Args:
        config: the OTLP receiver settings; ``protocols.http`` defaults when unset.
        sink: where decoded batches go.
    """

    def __init__(self, config: OTLPReceiverConfig, sink: Sink) -> None:
        self.settings = config.protocols.http or HttpSettings()
        host, port = split_endpoint(self.settings.endpoint)
        super().__init__(
            http_app(config, sink), host, port, "otlp-http", **_tls_options(self.settings.tls)
        )
