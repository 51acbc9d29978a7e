"""Fresh trace and span ids (and, if asked, shifted times) for every send of a prepared request.

A pool of a few dozen serialised ``ExportTraceServiceRequest`` bodies is cheap to send,
but re-sending the same bytes re-sends the same traces: a receiver that assembles traces
sees duplicates and late spans of traces it has already analysed, and skips them. So each
send XORs every 16-byte trace id and every 8-byte span id / parent span id, in place at
byte offsets found once, with a salt made of ``(stream, sequence)``. XOR with one salt
keeps every parent link of the request intact; distinct salts give distinct ids. Start
and end times (fixed64) can be moved by a delta the same way, so batches fed on an
event-time clock carry times that follow it.

Rewriting costs a few tens of µs a request with numpy (the client's, not the receiver's).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import numpy as np
import numpy.typing as npt
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from benchmarks._common import START_TIMEOUT_S, ClientResult, open_channel, send

# Span fields as they appear on the wire: tag byte (field << 3 | wire type), then the value
TRACE_ID_TAG = b"\x0a\x10"  # field 1, length-delimited, 16 bytes
SPAN_ID_TAG = b"\x12\x08"  # field 2, length-delimited, 8 bytes
PARENT_ID_TAG = b"\x22\x08"  # field 4, length-delimited, 8 bytes
START_TAG = b"\x39"  # field 7, fixed64
END_TAG = b"\x41"  # field 8, fixed64
MAX_STREAM = 1 << 24
MAX_SEQUENCE = 1 << 40

Positions = npt.NDArray[np.intp]


class LayoutError(ValueError):
    """A request's ids or times were not found where its spans say they are."""


@dataclass(frozen=True)
class IdLayout:
    """Where each id and time byte of one serialised request sits."""

    trace_id_bytes: Positions  # shape (n, 16)
    span_id_bytes: Positions  # shape (m, 8): span ids and parent span ids
    time_bytes: Positions  # shape (k, 8): start and end times
    traces: int
    spans: int


def find_layout(payload: bytes) -> IdLayout:
    """The byte offsets of every span's trace id, span id, parent span id, start and end.

    Spans are serialised in field order, so each field is looked for (tag and value)
    after the previous one.

    Raises:
        LayoutError: a field was not found where expected.
    """
    try:
        request = ExportTraceServiceRequest.FromString(payload)
    except DecodeError as exc:
        raise LayoutError(f"not an OTLP ExportTraceServiceRequest: {exc}") from None
    trace_at: list[int] = []
    span_at: list[int] = []
    time_at: list[int] = []
    trace_ids: set[bytes] = set()
    cursor = spans = 0
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans += 1
                cursor = _find(payload, TRACE_ID_TAG + span.trace_id, cursor, trace_at)
                trace_ids.add(span.trace_id)
                cursor = _find(payload, SPAN_ID_TAG + span.span_id, cursor, span_at)
                if span.parent_span_id:
                    cursor = _find(payload, PARENT_ID_TAG + span.parent_span_id, cursor, span_at)
                for tag, ns in (
                    (START_TAG, span.start_time_unix_nano),
                    (END_TAG, span.end_time_unix_nano),
                ):
                    cursor = _find(payload, tag + ns.to_bytes(8, "little"), cursor, time_at)
    return IdLayout(
        _spread(trace_at, 16),
        _spread(span_at, 8),
        _spread(time_at, 8),
        traces=len(trace_ids),
        spans=spans,
    )


def _find(payload: bytes, needle: bytes, cursor: int, found: list[int]) -> int:
    """Record where the value after ``needle``'s tag starts; returns the byte after it."""
    at = payload.find(needle, cursor)
    if at < 0:
        raise LayoutError(f"span field with tag {needle[:1].hex()} not found after byte {cursor}")
    tag_length = 1 if needle[:1] in (START_TAG, END_TAG) else 2
    found.append(at + tag_length)
    return at + len(needle)


def _spread(offsets: list[int], width: int) -> Positions:
    starts = np.asarray(offsets, dtype=np.intp).reshape(-1, 1)
    return starts + np.arange(width, dtype=np.intp)


class FreshIds:
    """One prepared request that comes out with fresh ids on every :meth:`payload` call."""

    def __init__(self, payload: bytes) -> None:
        self.layout = find_layout(payload)
        self._template = np.frombuffer(payload, dtype=np.uint8).copy()

    def payload(self, stream: int, sequence: int, shift_ns: int = 0) -> bytes:
        """The request with ids salted by ``(stream, sequence)`` and times moved by ``shift_ns``.

        ``(0, 0)`` and no shift give the original bytes. Distinct ``(stream, sequence)``
        pairs give distinct ids for the same request.
        """
        if not (0 <= stream < MAX_STREAM and 0 <= sequence < MAX_SEQUENCE):
            raise ValueError(f"stream {stream} or sequence {sequence} out of range")
        body = self._template.copy()
        trace_salt = np.frombuffer(
            stream.to_bytes(8, "big") + sequence.to_bytes(8, "big"), dtype=np.uint8
        )
        span_salt = np.frombuffer((stream << 40 | sequence).to_bytes(8, "big"), dtype=np.uint8)
        layout = self.layout
        body[layout.trace_id_bytes] ^= trace_salt
        body[layout.span_id_bytes] ^= span_salt
        if shift_ns:
            times = body[layout.time_bytes].view("<u8") + np.uint64(shift_ns)
            body[layout.time_bytes] = times.view(np.uint8).reshape(-1, 8)
        return body.tobytes()


PREPARED_AHEAD = 512
"""Bodies a client prepares before it is told to start (~100 KB each); the rest on the fly."""


def fresh_bodies(
    payloads: list[bytes], requests: int, stream: int, offset: int = 0
) -> Iterator[bytes]:
    """``requests`` bodies round-robin over ``payloads`` from ``offset``, ids fresh in each.

    Body ``i`` is ``payloads[(offset + i) % len(payloads)]`` salted with ``(stream, i)``.
    The first :data:`PREPARED_AHEAD` are built at the call, so a client that calls this
    before it reports ready spends nothing on them while it is measured.
    """
    pool = [FreshIds(payload) for payload in payloads]

    def body(i: int) -> bytes:
        return pool[(offset + i) % len(pool)].payload(stream, i)

    ahead = [body(i) for i in range(min(requests, PREPARED_AHEAD))]
    return itertools.chain(ahead, (body(i) for i in range(len(ahead), requests)))


def run_fresh_client(
    index: int,
    address: str,
    payloads: list[bytes],
    requests: int,
    stream: int,
    start: Any,
    results: Any,
) -> None:
    """Client process body: prepare, connect, report ready, wait for ``start``, send, report.

    Sends ``requests`` requests round-robin over ``payloads``, every one with ids of its
    own (:func:`fresh_bodies`); ``stream`` must differ between every client (and warm-up)
    sending to one receiver. ``start`` is a multiprocessing Event and ``results`` a
    multiprocessing Queue receiving ``("ready", index)`` and then one :class:`ClientResult`.
    """
    channel: grpc.Channel | None = None
    try:
        bodies = fresh_bodies(payloads, requests, stream, offset=index * 7)
        channel, export = open_channel(address)
        results.put(("ready", index))
        if not start.wait(START_TIMEOUT_S):
            results.put(ClientResult(index, error="never told to start"))
            return
        retries = sum(send(export, body) for body in bodies)
        results.put(ClientResult(index, requests, retries))
    except Exception as exc:  # reported to the parent, which fails the run
        results.put(ClientResult(index, error=f"{type(exc).__name__}: {exc}"))
    finally:
        if channel is not None:
            channel.close()
