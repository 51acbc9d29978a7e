"""Baseline receivers: ``python -m benchmarks._decode_only_server MODE PORT``.

A minimal OTLP/gRPC TraceService with otel-perf's default worker count and
message size limit. MODE says what Export does with the request bytes:

- ``naive``: the honest floor for a Python reader: parse with the protobuf
  library and read every field of every span (ids, times, kind, status,
  attributes, events, links) and of its resource and scope into dicts.
- ``native``: otel-perf's native decode alone (:mod:`otel_perf.decode.columnar`),
  bytes to columns and records, nothing downstream.

Pass port 0 for any free port; prints ``READY <port>`` once serving and runs
until terminated.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from benchmarks._common import GRPC_OPTIONS, TRACE_SERVICE, WORKERS

MODES = ("naive", "native")


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return None if kind is None else getattr(value, kind)


def _attributes(kvs: Iterable[Any]) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


def _span(span: Any, resource: dict[str, Any], scope: dict[str, Any]) -> dict[str, Any]:
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "trace_state": span.trace_state,
        "flags": span.flags,
        "name": span.name,
        "kind": span.kind,
        "start_ns": span.start_time_unix_nano,
        "end_ns": span.end_time_unix_nano,
        "attributes": _attributes(span.attributes),
        "events": [(e.time_unix_nano, e.name, _attributes(e.attributes)) for e in span.events],
        "links": [(x.trace_id, x.span_id, _attributes(x.attributes)) for x in span.links],
        "status": (span.status.code, span.status.message),
        "resource": resource,
        "scope": scope,
    }


def naive(body: bytes) -> list[dict[str, Any]]:
    """Every field of every span, read with the protobuf library into dicts."""
    request = ExportTraceServiceRequest.FromString(body)
    spans: list[dict[str, Any]] = []
    for rs in request.resource_spans:
        resource = _attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            scope = {"name": ss.scope.name, "version": ss.scope.version}
            spans.extend(_span(span, resource, scope) for span in ss.spans)
    return spans


def native_decoder() -> Callable[[bytes], object]:
    """otel-perf's native decode with the default limits and kept attributes."""
    from otel_perf.decode import Decoder
    from otel_perf.decode.columnar import NATIVE

    if not NATIVE:
        raise SystemExit("the native decoder (otel_perf.decode._columnar) is not built")
    decoder = Decoder()
    return lambda body: decoder.spans_from_bytes(body)


def build_server(port: int, decode: Callable[[bytes], object]) -> tuple[Any, int]:
    """A grpc server with the Export method registered the way otel-perf registers it."""

    def export(body: bytes, context: grpc.ServicerContext) -> ExportTraceServiceResponse:
        decode(body)
        return ExportTraceServiceResponse()

    server = grpc.server(
        ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="baseline"),
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
    if len(argv) != 2 or argv[0] not in MODES or not argv[1].isdigit():
        print(f"usage: python -m benchmarks._decode_only_server {{{'|'.join(MODES)}}} PORT")
        return 2
    decode = naive if argv[0] == "naive" else native_decoder()
    server, port = build_server(int(argv[1]), decode)
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
