"""The :class:`Decoder`: parsed OTLP requests to span, metric and log batches."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_perf.decode.columnar import decode_native
from otel_perf.decode.limits import SPAN_ID_BYTES, TRACE_ID_BYTES, Limits
from otel_perf.decode.metrics import _metric_points
from otel_perf.decode.parse import parse_protobuf
from otel_perf.decode.problems import Problems, _future, _id_problem, _span_problem
from otel_perf.decode.values import (
    _clip,
    _event_name_attribute,
    _events,
    _wanted,
    any_value,
    attributes,
)
from otel_perf.model import (
    Batch,
    LogBatch,
    LogRecordData,
    MetricBatch,
    MetricPoint,
    Resource,
    SpanBatch,
    SpanRecord,
)


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
    def spans_from_bytes(self, body: bytes) -> tuple[SpanBatch, Problems]:
        """Decode an OTLP trace request body: natively when built, else with protobuf.

        Raises:
            DecodeError: the body is not a trace request at all.
        """
        decoded = decode_native(body, self.limits)
        if decoded is not None:
            return decoded
        request: Any = parse_protobuf("traces", body)
        return self.spans(request)

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
