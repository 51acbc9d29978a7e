"""Span metrics as OTLP metrics, named as the Collector's spanmetrics connector names them.

Each closed base interval becomes one delta export: ``traces.span.metrics.calls``
(a monotonic sum per status) and ``traces.span.metrics.duration`` (the
exponential histogram, unchanged, in seconds), grouped by service into one
resource each. Sending happens on a worker thread behind a bounded queue, so a
slow backend never holds up the pipeline; what the queue cannot hold is counted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Buckets,
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_perf.component.sender import QueueSender, SenderSettings
from otel_perf.exporters.instruments import SPAN_CALLS as CALLS
from otel_perf.exporters.instruments import SPAN_DURATION as DURATION
from otel_perf.exporters.instruments import span_attributes as attributes
from otel_perf.series import RED, SeriesInterval, SeriesKey

DELTA = AggregationTemporality.DELTA


def _calls(key: SeriesKey, red: RED, start: int, end: int) -> list[NumberDataPoint]:
    base = attributes(key)
    points = [
        NumberDataPoint(
            {**base, "status.code": "STATUS_CODE_UNSET"}, start, end, red.calls - red.errors
        )
    ]
    if red.errors:
        points.append(
            NumberDataPoint({**base, "status.code": "STATUS_CODE_ERROR"}, start, end, red.errors)
        )
    return points


def _duration(key: SeriesKey, red: RED, start: int, end: int) -> ExponentialHistogramDataPoint:
    b = red.duration_s.otlp_buckets()
    return ExponentialHistogramDataPoint(
        attributes=attributes(key),
        start_time_unix_nano=start,
        time_unix_nano=end,
        count=b.count,
        sum=b.sum or 0.0,
        scale=b.scale,
        zero_count=b.zero_count,
        positive=Buckets(b.positive_offset, list(b.positive_counts)),
        negative=Buckets(b.negative_offset, list(b.negative_counts)),
        flags=0,
        min=b.min if b.min is not None else 0.0,
        max=b.max if b.max is not None else 0.0,
    )


def metrics_data(interval: SeriesInterval, scope: InstrumentationScope) -> MetricsData:
    """One interval's series as SDK MetricsData, one resource per service."""
    by_service: dict[str, list[tuple[SeriesKey, RED]]] = {}
    for key, red in interval.values.items():
        by_service.setdefault(key.service, []).append((key, red))
    start, end = interval.start_ns, interval.end_ns
    resources = []
    for service, series in sorted(by_service.items()):
        calls = [p for key, red in series for p in _calls(key, red, start, end)]
        durations = [_duration(key, red, start, end) for key, red in series if red.calls]
        metrics = [
            Metric(CALLS, "Spans per series and status.", "{call}", Sum(calls, DELTA, True)),
            Metric(DURATION, "Span durations.", "s", ExponentialHistogram(durations, DELTA)),
        ]
        resources.append(
            ResourceMetrics(
                Resource({"service.name": service}), [ScopeMetrics(scope, metrics, "")], ""
            )
        )
    return MetricsData(resources)


class SpanMetricsSender:
    """Takes closed intervals on the pipeline thread, sends them from its own (a
    :class:`~otel_perf.component.sender.QueueSender`: the newest dropped when full)."""

    def __init__(
        self,
        exporter: Any,
        scope: InstrumentationScope,
        on_drop: Callable[[], None],
        max_queue: int = 32,
    ) -> None:
        self.exporter = exporter
        self.scope = scope
        settings = SenderSettings("otel-perf-spanmetrics", max_queue=max_queue, drop="newest")
        self._sender = QueueSender[SeriesInterval](settings, self._export, on_drop=on_drop)
        self._sender.start()

    def offer(self, interval: SeriesInterval) -> None:
        if interval.rollup:
            return  # rollups repeat base intervals already sent
        self._sender.offer(interval)

    def _export(self, interval: SeriesInterval) -> None:
        # the SDK exporter's wrapper counts a failure; the sender logs it and goes on
        self.exporter.export(metrics_data(interval, self.scope))

    def close(self, timeout_s: float) -> None:
        """Send what is queued (within ``timeout_s``), then stop the worker."""
        self._sender.close(timeout_s)
