"""OTLP protobuf and OTLP JSON to batches, validated once at the edge.

Invalid items are dropped one by one and reported as an OTLP partial success
(count plus a message naming where each problem was); valid items in the same
request are kept. Nothing here raises for bad telemetry except
:class:`DecodeError` for a payload that cannot be parsed at all.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError as ProtoDecodeError
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from otel_perf.model import (
    AttrValue,
    Batch,
    ExponentialBuckets,
    LogBatch,
    LogRecordData,
    MetricBatch,
    MetricPoint,
    MetricType,
    Resource,
    SpanBatch,
    SpanRecord,
)

# Span attributes kept on records: old and stable semantic-convention names,
# since Python instrumentations still emit the old ones by default.
SPAN_ATTRIBUTE_KEYS: frozenset[str] = frozenset(
    {
        "http.route",
        "http.request.method",
        "http.method",
        "http.response.status_code",
        "http.status_code",
        "http.target",
        "url.path",
        "url.template",
        "rpc.system",
        "rpc.service",
        "rpc.method",
        "rpc.grpc.status_code",
        "db.system",
        "db.system.name",
        "db.statement",
        "db.query.text",
        "db.query.summary",
        "db.operation",
        "db.operation.name",
        "db.name",
        "db.namespace",
        "db.collection.name",
        "db.sql.table",
        "server.address",
        "server.port",
        "peer.service",
        "net.peer.name",
        "messaging.system",
        "messaging.operation",
        "messaging.destination.name",
        "error.type",
        "exception.type",
        "cache.hit",
        "cache.key",
        "cache.item_size",
        "cache.ttl",
    }
)

MAX_MESSAGES = 5  # problems named in one partial-success message
TRACE_ID_BYTES = 16
SPAN_ID_BYTES = 8


class DecodeError(ValueError):
    """The payload could not be parsed at all (OTLP: INVALID_ARGUMENT / HTTP 400)."""


@dataclass(slots=True)
class Problems:
    """Rejected-item count and the first few reasons, for a partial success."""

    rejected: int = 0
    warnings: int = 0
    messages: list[str] = field(default_factory=list)

    def reject(self, where: str, why: str) -> None:
        self.rejected += 1
        self._note(f"{where}: {why}")

    def warn(self, where: str, why: str) -> None:
        self.warnings += 1
        self._note(f"{where}: {why}")

    def _note(self, text: str) -> None:
        if len(self.messages) < MAX_MESSAGES:
            self.messages.append(text)

    def message(self) -> str:
        if not self.messages:
            return ""
        extra = self.rejected + self.warnings - len(self.messages)
        tail = f" (and {extra} more)" if extra > 0 else ""
        return "; ".join(self.messages) + tail


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-item limits applied while decoding."""

    max_attribute_value_bytes: int = 65536
    span_attribute_keys: frozenset[str] = SPAN_ATTRIBUTE_KEYS
    #: items timed further ahead of ``clock`` are rejected: windows keyed by event time
    #: (span metrics, SLO minutes) would otherwise open state for any future instant
    max_future_s: float = 3600.0
    clock: Callable[[], int] = time.time_ns

    def latest_ns(self) -> int:
        return self.clock() + int(self.max_future_s * 1e9)


def any_value(value: AnyValue, limits: Limits | None = None) -> AttrValue:
    """Convert an OTLP AnyValue to a Python value."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v, limits) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value, limits) for kv in value.kvlist_value.values}
    result: AttrValue = getattr(value, kind)
    return result


def attributes(kvs: Iterable[KeyValue]) -> dict[str, AttrValue]:
    return {kv.key: any_value(kv.value) for kv in kvs}


def _clip(value: AttrValue, limit: int) -> tuple[AttrValue, bool]:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit], True
    if isinstance(value, bytes) and len(value) > limit:
        return value[:limit], True
    return value, False


class Decoder:
    """Turns parsed OTLP requests into batches; one per receiver."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()

    def decode(self, signal: str, request: Message) -> tuple[Batch, Problems]:
        """Decode a parsed request of ``signal`` (traces, metrics or logs)."""
        if isinstance(request, ExportTraceServiceRequest):
            return self.spans(request)
        if isinstance(request, ExportMetricsServiceRequest):
            return self.metrics(request)
        if isinstance(request, ExportLogsServiceRequest):
            return self.logs(request)
        raise TypeError(f"not an OTLP {signal} request: {type(request).__name__}")

    # -- traces -------------------------------------------------------------
    def spans(self, request: ExportTraceServiceRequest) -> tuple[SpanBatch, Problems]:
        problems = Problems()
        out: list[SpanRecord] = []
        latest = self.limits.latest_ns()
        for ri, rs in enumerate(request.resource_spans):
            resource = Resource(attributes(rs.resource.attributes))
            for si, ss in enumerate(rs.scope_spans):
                where = f"resource_spans[{ri}].scope_spans[{si}]"
                self._scope_spans(resource, ss, where, out, problems, latest)
        return SpanBatch(out), problems

    def _scope_spans(
        self,
        resource: Resource,
        ss: Any,
        where: str,
        out: list[SpanRecord],
        problems: Problems,
        latest_ns: int,
    ) -> None:
        """Append the valid spans of one ScopeSpans to ``out`` (the hot loop of ingest)."""
        keys = self.limits.span_attribute_keys
        limit = self.limits.max_attribute_value_bytes
        scope = ss.scope.name
        append = out.append
        for pi, span in enumerate(ss.spans):
            trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
            start, end = span.start_time_unix_nano, span.end_time_unix_nano
            problem = _span_problem(trace_id, span_id, parent, start, end) or _future(
                end, latest_ns, "end_time_unix_nano"
            )
            if problem:
                problems.reject(f"{where}.spans[{pi}]", problem)
                continue
            attrs, clipped = _wanted(span.attributes, keys, limit)
            for key in clipped:
                problems.warn(
                    f"{where}.spans[{pi}].attributes[{key!r}]",
                    f"value longer than {limit} bytes was truncated",
                )
            status = span.status
            append(
                SpanRecord(
                    trace_id,
                    span_id,
                    parent,
                    resource,
                    scope,
                    span.name,
                    span.kind,
                    start,
                    end,
                    status.code,
                    status.message,
                    attrs,
                    _events(span.events) if span.events else (),
                )
            )

    # -- metrics ------------------------------------------------------------
    def metrics(self, request: ExportMetricsServiceRequest) -> tuple[MetricBatch, Problems]:
        problems = Problems()
        out: list[MetricPoint] = []
        latest = self.limits.latest_ns()
        for ri, rm in enumerate(request.resource_metrics):
            resource = Resource(attributes(rm.resource.attributes))
            for si, sm in enumerate(rm.scope_metrics):
                for mi, metric in enumerate(sm.metrics):
                    where = f"resource_metrics[{ri}].scope_metrics[{si}].metrics[{mi}]"
                    out.extend(_metric_points(resource, metric, where, problems, latest))
        return MetricBatch(out), problems

    # -- logs ---------------------------------------------------------------
    def logs(self, request: ExportLogsServiceRequest) -> tuple[LogBatch, Problems]:
        problems = Problems()
        out: list[LogRecordData] = []
        limit = self.limits.max_attribute_value_bytes
        for ri, rl in enumerate(request.resource_logs):
            resource = Resource(attributes(rl.resource.attributes))
            for si, sl in enumerate(rl.scope_logs):
                for li, rec in enumerate(sl.log_records):
                    where = f"resource_logs[{ri}].scope_logs[{si}].log_records[{li}]"
                    if rec.trace_id and len(rec.trace_id) != TRACE_ID_BYTES:
                        problems.reject(where, _id_problem("trace_id", rec.trace_id, 16))
                        continue
                    if rec.span_id and len(rec.span_id) != SPAN_ID_BYTES:
                        problems.reject(where, _id_problem("span_id", rec.span_id, 8))
                        continue
                    body, clipped = _clip(any_value(rec.body), limit)
                    if clipped:
                        problems.warn(where + ".body", f"longer than {limit} bytes, truncated")
                    out.append(
                        LogRecordData(
                            resource=resource,
                            time_ns=rec.time_unix_nano or rec.observed_time_unix_nano,
                            severity_number=rec.severity_number,
                            severity_text=rec.severity_text,
                            body=body,
                            attributes=attributes(rec.attributes),
                            event_name=rec.event_name or str(_event_name_attribute(rec.attributes)),
                            trace_id=rec.trace_id,
                            span_id=rec.span_id,
                        )
                    )
        return LogBatch(out), problems


_SCALARS = frozenset({"int_value", "bool_value", "double_value"})


def _wanted(
    kvs: Iterable[KeyValue], keys: frozenset[str], limit: int
) -> tuple[dict[str, AttrValue], list[str]]:
    """The attributes named in ``keys``, and which of them were clipped to ``limit``.

    This is the hottest loop of ingest: scalar values are read inline rather than
    through :func:`any_value`, and other keys are skipped without touching values.
    """
    attrs: dict[str, AttrValue] = {}
    clipped: list[str] = []
    for kv in kvs:
        key = kv.key
        if key not in keys:
            continue
        value = kv.value
        kind = value.WhichOneof("value")
        if kind == "string_value":
            text = value.string_value
            if len(text) > limit:
                text = text[:limit]
                clipped.append(key)
            attrs[key] = text
        elif kind in _SCALARS:
            attrs[key] = getattr(value, kind)
        else:
            attrs[key], was_clipped = _clip(any_value(value), limit)
            if was_clipped:
                clipped.append(key)
    return attrs, clipped


def _event_name_attribute(kvs: Iterable[KeyValue]) -> str:
    # Older SDKs put the event name in an attribute instead of the field.
    for kv in kvs:
        if kv.key == "event.name":
            return kv.value.string_value
    return ""


def _id_problem(name: str, value: bytes, size: int) -> str:
    return f"{name} must be {size} bytes, got {len(value)}"


def _future(time_ns: int, latest_ns: int, field: str) -> str:
    if time_ns <= latest_ns:
        return ""
    ahead_s = (time_ns - latest_ns) / 1e9
    return f"{field} is too far in the future ({ahead_s:.0f} s past the allowed clock skew)"


def _span_problem(trace_id: bytes, span_id: bytes, parent: bytes, start: int, end: int) -> str:
    """Why a span is invalid, or "" when it is fine (cheapest checks first)."""
    if len(trace_id) != TRACE_ID_BYTES:
        return _id_problem("trace_id", trace_id, TRACE_ID_BYTES)
    if len(span_id) != SPAN_ID_BYTES:
        return _id_problem("span_id", span_id, SPAN_ID_BYTES)
    if parent and len(parent) != SPAN_ID_BYTES:
        return _id_problem("parent_span_id", parent, SPAN_ID_BYTES)
    if end == 0:
        return "end_time_unix_nano is zero"
    if end < start:
        return f"end_time_unix_nano {end} is before start_time_unix_nano {start}"
    if trace_id == _ZERO_TRACE_ID:
        return "trace_id must not be all zeros"
    return ""


_ZERO_TRACE_ID = b"\0" * TRACE_ID_BYTES


def _events(events: Iterable[Any]) -> tuple[tuple[int, str, dict[str, AttrValue]], ...]:
    return tuple((e.time_unix_nano, e.name, attributes(e.attributes)) for e in events)


def _metric_points(
    resource: Resource, metric: Any, where: str, problems: Problems, latest_ns: int
) -> list[MetricPoint]:
    kind = metric.WhichOneof("data")
    if not metric.name:
        problems.reject(where, "metric name is empty")
        return []
    if kind is None:
        return []
    data = getattr(metric, kind)
    fields_of = _POINT_FIELDS[kind]
    out: list[MetricPoint] = []
    for di, dp in enumerate(data.data_points):
        problem = (
            "time_unix_nano is zero"
            if dp.time_unix_nano == 0
            else _future(dp.time_unix_nano, latest_ns, "time_unix_nano")
        )
        if problem:
            problems.reject(f"{where}.data_points[{di}]", problem)
            continue
        point = MetricPoint(
            resource=resource,
            name=metric.name,
            unit=metric.unit,
            attributes=attributes(dp.attributes),
            time_ns=dp.time_unix_nano,
            start_ns=dp.start_time_unix_nano,
            **fields_of(data, dp),
        )
        out.append(point)
    return out


def _number_fields(data: Any, dp: Any) -> dict[str, Any]:
    is_double = dp.WhichOneof("value") == "as_double"
    return {
        "type": MetricType.SUM if hasattr(data, "is_monotonic") else MetricType.GAUGE,
        "value": dp.as_double if is_double else float(dp.as_int),
        "is_monotonic": bool(getattr(data, "is_monotonic", False)),
        "temporality": getattr(data, "aggregation_temporality", 0),
    }


def _stats(data: Any, dp: Any) -> dict[str, Any]:
    """count/sum/min/max shared by both histogram kinds (optional fields stay None)."""
    return {
        "temporality": data.aggregation_temporality,
        "count": dp.count,
        "sum": dp.sum if dp.HasField("sum") else None,
        "min": dp.min if dp.HasField("min") else None,
        "max": dp.max if dp.HasField("max") else None,
    }


def _histogram_fields(data: Any, dp: Any) -> dict[str, Any]:
    return {
        "type": MetricType.HISTOGRAM,
        "bounds": tuple(dp.explicit_bounds),
        "bucket_counts": tuple(dp.bucket_counts),
        **_stats(data, dp),
    }


def _exponential_fields(data: Any, dp: Any) -> dict[str, Any]:
    return {
        "type": MetricType.EXPONENTIAL_HISTOGRAM,
        "scale": dp.scale,
        "zero_count": dp.zero_count,
        "positive": ExponentialBuckets(dp.positive.offset, tuple(dp.positive.bucket_counts)),
        "negative": ExponentialBuckets(dp.negative.offset, tuple(dp.negative.bucket_counts)),
        **_stats(data, dp),
    }


def _summary_fields(data: Any, dp: Any) -> dict[str, Any]:
    return {
        "type": MetricType.SUMMARY,
        "count": dp.count,
        "sum": dp.sum,
        "quantiles": tuple((q.quantile, q.value) for q in dp.quantile_values),
    }


_POINT_FIELDS: dict[str, Any] = {
    "gauge": _number_fields,
    "sum": _number_fields,
    "histogram": _histogram_fields,
    "exponential_histogram": _exponential_fields,
    "summary": _summary_fields,
}


# -- parsing ------------------------------------------------------------------

REQUEST_TYPES: dict[str, type[Message]] = {
    "traces": ExportTraceServiceRequest,
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
}

# Where ids sit in each OTLP JSON document: path of list/object keys to walk.
_JSON_ID_PATHS: dict[str, list[tuple[str, ...]]] = {
    "traces": [
        ("resourceSpans", "scopeSpans", "spans"),
        ("resourceSpans", "scopeSpans", "spans", "links"),
    ],
    "logs": [("resourceLogs", "scopeLogs", "logRecords")],
    "metrics": [
        ("resourceMetrics", "scopeMetrics", "metrics", kind, "dataPoints", "exemplars")
        for kind in ("gauge", "sum", "histogram", "exponentialHistogram")
    ],
}
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def parse_protobuf(signal: str, body: bytes) -> Message:
    """Parse an OTLP protobuf request body; raise DecodeError naming the signal."""
    message = REQUEST_TYPES[signal]()
    try:
        message.ParseFromString(body)
    except ProtoDecodeError as exc:
        raise DecodeError(f"cannot decode OTLP {signal} protobuf: {exc}") from None
    return message


def parse_json(signal: str, body: bytes | str | dict[str, Any]) -> Message:
    """Parse an OTLP JSON request (hex ids, lowerCamelCase, integer enums)."""
    if isinstance(body, dict):
        document = body
    else:
        try:
            document = json.loads(body)
        # ValueError also covers numbers past Python's 4300-digit limit (found by fuzzing)
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError are ValueErrors
            raise DecodeError(f"cannot decode OTLP {signal} JSON: {exc}") from None
        except RecursionError:
            raise DecodeError(f"cannot decode OTLP {signal} JSON: nested too deeply") from None
    if not isinstance(document, dict):
        raise DecodeError(f"OTLP {signal} JSON must be an object, got {type(document).__name__}")
    for path in _JSON_ID_PATHS[signal]:
        _hex_ids_to_base64(document, path, "")
    message = REQUEST_TYPES[signal]()
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise DecodeError(f"invalid OTLP {signal} JSON: {exc}") from None
    return message


def _hex_ids_to_base64(node: Any, path: tuple[str, ...], where: str) -> None:
    """Rewrite OTLP's hex ids in place into the base64 that json_format expects."""
    if not path:
        items = node if isinstance(node, list) else [node]
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            for key in _ID_FIELDS:
                value = item.get(key)
                if isinstance(value, str) and value:
                    try:
                        item[key] = base64.b64encode(bytes.fromhex(value)).decode()
                    except ValueError:
                        raise DecodeError(
                            f"{where}[{i}].{key}: expected a hex string, got {value[:40]!r}"
                        ) from None
        return
    head, rest = path[0], path[1:]
    items = node if isinstance(node, list) else [node]
    for i, item in enumerate(items):
        if isinstance(item, dict) and head in item:
            prefix = f"{where}[{i}]" if isinstance(node, list) else where
            _hex_ids_to_base64(item[head], rest, f"{prefix}.{head}".lstrip("."))


def message_to_json(message: Message) -> dict[str, Any]:
    """Render an OTLP message as OTLP JSON (hex ids), as the Collector's file exporter does."""
    document: dict[str, Any] = json_format.MessageToDict(message)
    for paths in _JSON_ID_PATHS.values():
        for path in paths:
            _base64_ids_to_hex(document, path)
    return document


def _base64_ids_to_hex(node: Any, path: tuple[str, ...]) -> None:
    items = node if isinstance(node, list) else [node]
    if not path:
        for item in items:
            if isinstance(item, dict):
                for key in _ID_FIELDS:
                    if isinstance(item.get(key), str):
                        try:
                            item[key] = base64.b64decode(item[key]).hex()
                        except binascii.Error:
                            pass
        return
    for item in items:
        if isinstance(item, dict) and path[0] in item:
            _base64_ids_to_hex(item[path[0]], path[1:])
