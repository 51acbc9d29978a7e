"""OTLP trace requests from wire bytes straight to records and columns, natively.

``_columnar`` (a C extension built by the ordinary ``pip install``) walks the
ExportTraceServiceRequest bytes without building protobuf messages. When it is
missing (:data:`NATIVE` is False), or declines a request it does not reproduce
exactly (malformed bytes, invalid UTF-8, merged submessages: see ``_columnar.c``),
the protobuf library decodes it instead, so accepted spans, partial-success
messages and counts are the same either way. ``OTEL_PERF_NATIVE_DECODE=0`` in the
environment turns the native decoder off.
"""

from __future__ import annotations

import os
from functools import lru_cache
from types import ModuleType
from typing import Any

from otel_perf.columns import FACTS, from_buffers
from otel_perf.decode.limits import Limits
from otel_perf.decode.problems import Problems, _future, _span_problem
from otel_perf.model import Resource, SpanBatch, SpanRecord

_native: ModuleType | None
try:
    from otel_perf.decode import _columnar

    _native = _columnar
except ImportError:  # no compiler when installed: the protobuf library decodes
    _native = None

NATIVE = _native is not None
"""Whether the native decoder was built."""
ENV_SWITCH = "OTEL_PERF_NATIVE_DECODE"
"""Set to 0 to decode with the protobuf library even where the native decoder is built."""
_enabled = NATIVE and os.environ.get(ENV_SWITCH, "1").strip() != "0"


@lru_cache(maxsize=16)
def key_columns(keys: frozenset[str]) -> tuple[tuple[str, ...], dict[str, int], tuple[Any, ...]]:
    """The kept keys in column order, their column index, and each fact's key columns."""
    ordered = tuple(sorted(keys))
    index = {key: i for i, key in enumerate(ordered)}
    facts = tuple(tuple(index[k] for k in fact if k in index) for fact in FACTS)
    return ordered, index, facts


def decode_native(body: bytes, limits: Limits) -> tuple[SpanBatch, Problems] | None:
    """Decode an OTLP trace request body natively, or None for the protobuf path to do it."""
    if _native is None or not _enabled:
        return None
    latest = limits.latest_ns()
    keys, index, facts = key_columns(limits.span_attribute_keys)
    result = _native.decode_traces(
        body, index, facts, limits.max_attribute_value_bytes, latest, Resource, SpanRecord
    )
    if result is None:
        return None
    records, notes, buffers, strings = result
    columns = from_buffers(buffers, strings, keys)
    return SpanBatch(records, columns), _problems(notes, latest, limits.max_attribute_value_bytes)


def _problems(notes: list[tuple[Any, ...]], latest_ns: int, limit: int) -> Problems:
    """The notes of the native decoder, worded as :meth:`Decoder.spans` words them."""
    problems = Problems()
    for kind, ri, si, pi, *rest in notes:
        where = f"resource_spans[{ri}].scope_spans[{si}].spans[{pi}]"
        if kind == "reject":
            trace_id, span_id, parent, start, end = rest
            why = _span_problem(trace_id, span_id, parent, start, end) or _future(
                end, latest_ns, "end_time_unix_nano"
            )
            problems.reject(where, why)
        else:
            problems.warn(
                f"{where}.attributes[{rest[0]!r}]", f"value longer than {limit} bytes was truncated"
            )
    return problems
