"""The decode-only baseline receiver: ``python -m benchmarks._decode_only_server PORT``.

A minimal OTLP/gRPC TraceService with otel-perf's default worker count and
message size limit whose Export parses the request with
``ExportTraceServiceRequest.FromString``, discards it and answers an empty
response. Pass port 0 for any free port; prints ``READY <port>`` once serving
and runs until terminated.
"""

from __future__ import annotations

import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from benchmarks._common import GRPC_OPTIONS, TRACE_SERVICE, WORKERS


def export(body: bytes, context: grpc.ServicerContext) -> ExportTraceServiceResponse:
    """Parse the request and throw it away."""
    ExportTraceServiceRequest.FromString(body)
    return ExportTraceServiceResponse()


def build_server(port: int) -> tuple[Any, int]:
    """A grpc server with the Export method registered the way otel-perf registers it."""
    server = grpc.server(
        ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="decode-only"),
        options=GRPC_OPTIONS,
    )
    handlers = {
        "Export": grpc.unary_unary_rpc_method_handler(
            export,
            request_deserializer=None,
            response_serializer=ExportTraceServiceResponse.SerializeToString,
        )
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(TRACE_SERVICE, handlers),)
    )
    server.add_registered_method_handlers(TRACE_SERVICE, handlers)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    return server, int(bound)


def main(argv: list[str]) -> int:
    """Serve until SIGTERM or SIGINT."""
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m benchmarks._decode_only_server PORT", file=sys.stderr)
        return 2
    server, port = build_server(int(argv[0]))
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    print(f"READY {port}", flush=True)
    while not stop.wait(0.5):
        pass
    server.stop(1.0).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
