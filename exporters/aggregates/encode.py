"""Closed intervals and windows as OTLP metric requests, built directly with
opentelemetry-proto: the exact histogram (scale, offsets, bucket counts, zero count,
sum, min, max) and integer sums go out as they are, nothing re-aggregated."""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    Metric,
    ResourceMetrics,
    ScopeMetrics,
)

from otel_perf import __version__, tiers
from otel_perf.series import RED, CriticalPathInterval, SeriesInterval, SeriesKey

DELTA = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
SCOPE = "otel_perf.tier"
Attrs = Iterable[tuple[str, str | int | float]]


def kv(key: str, value: str | int | float) -> KeyValue:
    if isinstance(value, bool | str):
        return KeyValue(key=key, value=AnyValue(string_value=str(value)))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(double_value=value))


class _Request:
    """One request; a ResourceMetrics per resource, one scope, one Metric per name."""

    def __init__(self, instance: str) -> None:
        self.instance = instance
        self.message = ExportMetricsServiceRequest()
        self._scopes: dict[tuple[tuple[str, str], ...], ScopeMetrics] = {}
        self._metrics: dict[tuple[int, str], Metric] = {}

    def metric(self, resource: tuple[tuple[str, str], ...], name: str, unit: str) -> Metric:
        scope = self._scopes.get(resource)
        if scope is None:
            rm: ResourceMetrics = self.message.resource_metrics.add()
            rm.resource.attributes.extend(kv(k, v) for k, v in resource)
            scope = self._scopes[resource] = rm.scope_metrics.add()
            scope.scope.name, scope.scope.version = SCOPE, __version__
        metric = self._metrics.get((id(scope), name))
        if metric is None:
            metric = self._metrics[(id(scope), name)] = scope.metrics.add()
            metric.name, metric.unit = name, unit
        return metric

    def sum_point(
        self, resource: tuple[tuple[str, str], ...], name: str, unit: str, value: int,
        start_ns: int, end_ns: int, attrs: Attrs,
    ) -> None:  # fmt: skip
        metric = self.metric(resource, name, unit)
        metric.sum.aggregation_temporality, metric.sum.is_monotonic = DELTA, True
        point = metric.sum.data_points.add()
        point.start_time_unix_nano, point.time_unix_nano, point.as_int = start_ns, end_ns, value
        point.attributes.extend(kv(k, v) for k, v in (*attrs, (tiers.INSTANCE, self.instance)))


def _split(key: SeriesKey) -> tuple[tuple[tuple[str, str], ...], list[tuple[str, str]]]:
    """The resource (service, and dims that are resource attributes) and the point dims."""
    resource = [("service.name", key.service)]
    resource += [(k, v) for k, v in key.dims if k in tiers.RESOURCE_DIMS]
    return tuple(resource), [(k, v) for k, v in key.dims if k not in tiers.RESOURCE_DIMS]


def interval_request(interval: SeriesInterval, instance: str) -> ExportMetricsServiceRequest:
    """Every series of one closed base interval: calls, duration, calls within thresholds."""
    request = _Request(instance)
    for key, red in interval.values.items():
        _series(request, interval, key, red)
    return request.message


def _series(request: _Request, interval: SeriesInterval, key: SeriesKey, red: RED) -> None:
    resource, dims = _split(key)
    start, end = interval.start_ns, interval.end_ns
    kind = tiers.SPAN_KINDS[key.span_kind] if 0 <= key.span_kind < 6 else str(key.span_kind)
    attrs: list[tuple[str, str | int | float]] = [
        (tiers.SPAN_NAME, key.operation),
        (tiers.SPAN_KIND, kind),
        *dims,
    ]
    for status, count in (
        (tiers.STATUS_OK, red.calls - red.errors),
        (tiers.STATUS_ERROR, red.errors),
    ):
        if count or (status == tiers.STATUS_OK and not red.errors):
            request.sum_point(
                resource, tiers.CALLS, "{call}", count, start, end, [*attrs, (tiers.STATUS, status)]
            )
    for threshold, count in red.within.items():
        request.sum_point(
            resource,
            tiers.WITHIN,
            "{call}",
            count,
            start,
            end,
            [*attrs, (tiers.THRESHOLD, threshold)],
        )
    _histogram(request.metric(resource, tiers.DURATION, "s"), red, start, end, attrs, request)


def _histogram(
    metric: Metric, red: RED, start_ns: int, end_ns: int, attrs: Attrs, request: _Request
) -> None:
    metric.exponential_histogram.aggregation_temporality = DELTA
    point = metric.exponential_histogram.data_points.add()
    point.start_time_unix_nano, point.time_unix_nano = start_ns, end_ns
    point.attributes.extend(kv(k, v) for k, v in (*attrs, (tiers.INSTANCE, request.instance)))
    fields = red.duration_s.otlp_buckets()
    point.scale, point.zero_count, point.count = fields.scale, fields.zero_count, fields.count
    point.positive.offset = fields.positive_offset
    point.positive.bucket_counts.extend(fields.positive_counts)
    point.negative.offset = fields.negative_offset
    point.negative.bucket_counts.extend(fields.negative_counts)
    if fields.sum is not None:
        point.sum = fields.sum
    if fields.min is not None and fields.max is not None:
        point.min, point.max = fields.min, fields.max


def watermark_request(instance: str, source: str, watermark_ns: int) -> ExportMetricsServiceRequest:
    """``source`` on ``instance`` has closed every interval ending at or before the mark."""
    request = _Request(instance)
    metric = request.metric((("service.name", tiers.SELF_SERVICE),), tiers.WATERMARK, "ns")
    point = metric.gauge.data_points.add()
    point.time_unix_nano, point.as_int = watermark_ns, watermark_ns
    point.attributes.extend([kv(tiers.SOURCE, source), kv(tiers.INSTANCE, instance)])
    return request.message


def critical_path_request(
    window: CriticalPathInterval, instance: str
) -> ExportMetricsServiceRequest:
    """One closed bottlenecks window: per-operation sums and the window's totals."""
    request = _Request(instance)
    start, end = window.start_ns, window.end_ns
    own = (("service.name", tiers.SELF_SERVICE),)
    request.sum_point(own, tiers.WINDOW_TOTAL, "ns", window.critical_total_ns, start, end, [])
    request.sum_point(own, tiers.WINDOW_TRACES, "{trace}", window.traces, start, end, [])
    for (service, operation), (critical, self_ns, traces) in window.operations.items():
        resource = (("service.name", service),)
        attrs = [(tiers.SPAN_NAME, operation)]
        request.sum_point(resource, tiers.CRITICAL_PATH, "ns", critical, start, end, attrs)
        request.sum_point(resource, tiers.SELF_TIME, "ns", self_ns, start, end, attrs)
        request.sum_point(resource, tiers.ON_PATH, "{trace}", traces, start, end, attrs)
    return request.message
