"""Cumulative-to-delta of received histogram streams."""

from __future__ import annotations

from otel_perf.component.metricmath import MetricStreams
from otel_perf.model import MetricPoint, MetricType, Resource

RESOURCE = Resource({"service.name": "api"})


def _hist(t: int, count: int, total: float, buckets: tuple[int, ...]) -> MetricPoint:
    return MetricPoint(
        RESOURCE,
        "http.server.request.duration",
        "s",
        MetricType.HISTOGRAM,
        {},
        time_ns=t,
        start_ns=1,
        temporality=2,
        count=count,
        sum=total,
        min=0.01,
        max=2.0,
        bounds=(0.1, 1.0),
        bucket_counts=buckets,
    )


def test_explicit_histogram_delta_differences_count_buckets_and_sum() -> None:
    streams = MetricStreams(10)
    assert streams.delta(_hist(10, 4, 1.5, (2, 1, 1))) is None  # the baseline
    delta = streams.delta(_hist(20, 10, 4.0, (5, 3, 2)))
    assert delta is not None
    assert (delta.count, delta.bucket_counts) == (6, (3, 2, 1))
    assert delta.sum == 2.5  # the interval's sum, not the cumulative 4.0
    assert delta.min is None and delta.max is None  # min/max of the interval are unknown


def test_explicit_histogram_reset_skips_one_point() -> None:
    streams = MetricStreams(10)
    streams.delta(_hist(10, 10, 4.0, (5, 3, 2)))
    assert streams.delta(_hist(20, 2, 0.5, (1, 1, 0))) is None
