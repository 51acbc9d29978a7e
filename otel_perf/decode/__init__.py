"""OTLP protobuf and OTLP JSON to batches, validated once at the edge.

Invalid items are dropped one by one and reported as an OTLP partial success
(count plus a message naming where each problem was); valid items in the same
request are kept. Nothing here raises for bad telemetry except
:class:`DecodeError` for a payload that cannot be parsed at all.

This package's public names are imported from here; its modules hold:

- ``parse``: request bodies (protobuf) to OTLP request messages.
- ``otlp_json``: the OTLP/JSON specifics (hex ids, parsing and rendering).
- ``decoder``: :class:`Decoder`, parsed requests to span, metric and log batches, and
  trace request bodies to batches (``Decoder.spans_from_bytes``).
- ``columnar``: the native decode of trace request bodies into records and columns
  (the ``_columnar`` C extension), declining to the protobuf path when it must.
- ``metrics``: metric data points to :class:`~otel_perf.model.MetricPoint` records.
- ``values``: OTLP attribute values to Python values, and the kept span attributes.
- ``limits``: per-item :class:`Limits` and the span attribute keys kept by default.
- ``problems``: :class:`DecodeError`, :class:`Problems` and the per-item checks.
"""

from otel_perf.decode.decoder import Decoder
from otel_perf.decode.limits import SPAN_ATTRIBUTE_KEYS, Limits
from otel_perf.decode.otlp_json import message_to_json, parse_json
from otel_perf.decode.parse import parse_protobuf
from otel_perf.decode.problems import DecodeError, Problems

__all__ = [
    "SPAN_ATTRIBUTE_KEYS",
    "DecodeError",
    "Decoder",
    "Limits",
    "Problems",
    "message_to_json",
    "parse_json",
    "parse_protobuf",
]
