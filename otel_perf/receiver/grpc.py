"""OTLP over gRPC: TraceService, MetricsService and LogsService, plus grpc.health.v1.

Methods are registered with ``request_deserializer=None`` so the handler gets
raw bytes and decodes them itself (trace bodies natively, straight to columns,
without building protobuf messages): a payload that cannot be parsed becomes
INVALID_ARGUMENT with the decoder's message instead of grpc's generic one.

:class:`~otel_perf.receiver._ingest.Ingest` does the transport-independent
part (auth, decode, count, submit, build the response).
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from otel_perf.config.models import GrpcSettings, OTLPReceiverConfig, TLSSettings
from otel_perf.config.types import split_endpoint
from otel_perf.decode import DecodeError
from otel_perf.receiver import Sink
from otel_perf.receiver._ingest import (
    RESPONSE_TYPES,
    RETRY_INFO_KEY,
    UNAUTHENTICATED,
    Ingest,
    MiB,
    queue_full_status,
    retry_info,
)
from otel_perf.runtime.threadnames import name_native_thread

SERVICES: dict[str, str] = {
    "traces": "opentelemetry.proto.collector.trace.v1.TraceService",
    "metrics": "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "logs": "opentelemetry.proto.collector.logs.v1.LogsService",
}


def _queue_full_grpc_status(retry_after_s: float) -> Any:
    # abort_with_status replaces any trailing metadata set earlier, so both
    # trailers must travel inside the grpc.Status itself.
    status = rpc_status.to_status(queue_full_status(retry_after_s))
    trailer = (RETRY_INFO_KEY, retry_info(retry_after_s).SerializeToString())
    return status._replace(trailing_metadata=(*status.trailing_metadata, trailer))


def _authorization(context: grpc.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            return str(value)
    return None


class _Rejection(Exception):
    """Ends an RPC with a non-OK status; caught in :meth:`GrpcReceiver._handle`."""

    def __init__(self, outcome: str, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.outcome = outcome
        self.code = code
        self.details = details


class GrpcReceiver:
    """OTLP/gRPC server on ``protocols.grpc.endpoint``.

    Args:
        config: the OTLP receiver settings; ``protocols.grpc`` defaults when unset.
        sink: where decoded batches go.
    """

    def __init__(self, config: OTLPReceiverConfig, sink: Sink) -> None:
        self.settings = config.protocols.grpc or GrpcSettings()
        self._ingest = Ingest(config, sink, "grpc")
        self._queue_full = _queue_full_grpc_status(config.retry_after)
        self._health = health.HealthServicer()
        self._server: Any = None
        self._port = 0

    @property
    def port(self) -> int:
        """The bound port (the real one when the endpoint asked for port 0); 0 before start."""
        return self._port

    def start(self) -> int:
        """Bind, start serving and report SERVING; returns the bound port."""
        max_bytes = self.settings.max_recv_msg_size_mib * MiB
        self._server = grpc.server(
            ThreadPoolExecutor(
                max_workers=self.settings.workers,
                thread_name_prefix="otlp-grpc",
                initializer=name_native_thread,
            ),
            options=[
                ("grpc.max_receive_message_length", max_bytes),
                ("grpc.max_send_message_length", max_bytes),
                # grpcio turns SO_REUSEPORT on by default: a second sidecar on this port
                # would then start "fine" and the kernel would split connections between them
                ("grpc.so_reuseport", 0),
            ],
        )
        self._register(self._server)
        try:
            self._port = self._bind(self._server)
        except OSError:
            self._server = None
            raise
        self._server.start()
        for service in ("", *SERVICES.values()):
            self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        return self._port

    def stop(self, grace: float = 5.0) -> None:
        """Report NOT_SERVING, refuse new RPCs and wait up to ``grace`` s for in-flight ones."""
        if self._server is None:
            return
        self._health.enter_graceful_shutdown()
        self._server.stop(grace).wait()
        self._server = None

    def _register(self, server: Any) -> None:
        for signal, service in SERVICES.items():
            handlers = {"Export": _method_handler(partial(self._handle, signal), signal)}
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(service, handlers),)
            )
            # registered methods skip the generic-handler lookup on every call
            server.add_registered_method_handlers(service, handlers)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)

    def _bind(self, server: Any) -> int:
        """Bind the endpoint; returns the port.

        Raises:
            OSError: the address cannot be bound (the port is in use, the host is not local).
        """
        host, port = split_endpoint(self.settings.endpoint)
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            if self.settings.tls is None:
                return int(server.add_insecure_port(address))
            return int(server.add_secure_port(address, server_credentials(self.settings.tls)))
        except RuntimeError:  # grpcio says only "Failed to bind to address"
            raise OSError(
                errno.EADDRINUSE,
                f"cannot listen for OTLP/gRPC on {self.settings.endpoint}: the port is in use "
                "or the address is not one of this host's",
            ) from None

    def _handle(self, signal: str, body: bytes, context: grpc.ServicerContext) -> Message:
        try:
            response = self._export(signal, body, context)
        except _Rejection as rejection:
            self._ingest.count(rejection.outcome)
            context.abort(rejection.code, rejection.details)
            raise  # not reached: abort raises
        if response is None:
            self._ingest.count("refused")
            context.abort_with_status(self._queue_full)
            raise AssertionError("abort_with_status returned")  # not reached
        self._ingest.count("partial" if response.HasField("partial_success") else "ok")
        return response

    def _export(self, signal: str, body: bytes, context: grpc.ServicerContext) -> Message | None:
        if not self._ingest.authorized(_authorization(context)):
            raise _Rejection("unauthenticated", grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED)
        try:
            return self._ingest.export_protobuf(signal, body)
        except DecodeError as exc:
            raise _Rejection("invalid", grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None


def _method_handler(behavior: Callable[[bytes, grpc.ServicerContext], Message], signal: str) -> Any:
    return grpc.unary_unary_rpc_method_handler(
        behavior,
        request_deserializer=None,  # raw bytes: parse_protobuf names the problem
        response_serializer=RESPONSE_TYPES[signal].SerializeToString,
    )


def server_credentials(tls: TLSSettings) -> Any:
    """grpc server credentials; client certificates are required when ``client_ca_file`` is set."""
    key = Path(tls.key_file).read_bytes()
    chain = Path(tls.cert_file).read_bytes()
    root = Path(tls.client_ca_file).read_bytes() if tls.client_ca_file else None
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=root, require_client_auth=root is not None
    )
