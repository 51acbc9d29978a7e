"""OTLP metric data points (all five kinds) to :class:`MetricPoint` records."""

from __future__ import annotations

from typing import Any

from otel_perf.decode.problems import Problems, _future
from otel_perf.decode.values import attributes
from otel_perf.model import ExponentialBuckets, MetricPoint, MetricType, Resource


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
