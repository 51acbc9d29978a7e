"""Span metrics as cumulative Prometheus families: a calls counter and a classic histogram.

The Python Prometheus exposition cannot carry OTel exponential histograms (the
OTel SDK's Prometheus reader skips them and Prometheus only takes native
histograms over protobuf), so each closed interval's exponential histogram is
read at the configured bucket bounds (``count_at_or_below``: exact on the
sketch's bucket boundaries, log-linear inside a bucket, rounded to whole
counts) and added to cumulative ``le`` counts. Count and sum stay exact.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

from otel_perf.exporters.instruments import SPAN_CALLS, SPAN_DURATION, span_attributes
from otel_perf.exporters.prometheus.names import label_name, metric_name, unit_suffix
from otel_perf.series import RED, SeriesInterval, SeriesKey

OK, ERROR = "STATUS_CODE_UNSET", "STATUS_CODE_ERROR"
OnDrop = Callable[[str, int], None]


@dataclass(slots=True)
class Cumulative:
    """One series' totals since it was first seen."""

    ok: int = 0
    errors: int = 0
    count: int = 0
    sum_s: float = 0.0
    at_or_below: list[int] = field(default_factory=list)  # cumulative per bound

    def add(self, red: RED, bounds: Sequence[float]) -> None:
        self.ok += red.calls - red.errors
        self.errors += red.errors
        hist = red.duration_s
        if hist.count == 0:
            return
        self.count += hist.count
        if hist.sum == hist.sum:  # NaN when values could not be summed
            self.sum_s += hist.sum
        if not self.at_or_below:
            self.at_or_below = [0] * len(bounds)
        for i, count in enumerate(hist.counts_at_or_below(bounds)):
            self.at_or_below[i] += round(count)


class SpanMetricsCollector:
    """A prometheus_client collector of span metrics, fed closed intervals.

    Args:
        bounds: the histogram's upper bounds in seconds, increasing.
        max_series: series (service, span name, kind, dimensions) kept; intervals'
            values for further series are dropped and reported to ``on_drop``.
        on_drop: called with the metric name and how many series were dropped.
        prefix: the exporter's namespace, if any.
        labels: constant labels added to every series (a data point's own win).
    """

    def __init__(
        self,
        bounds: Sequence[float],
        max_series: int,
        on_drop: OnDrop,
        prefix: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> None:
        self.bounds = tuple(bounds)
        self.max_series = max_series
        self.on_drop = on_drop
        self.calls_name = metric_name(SPAN_CALLS, prefix)
        self.duration_name = metric_name(SPAN_DURATION, prefix)
        self.labels = {label_name(k): v for k, v in (labels or {}).items()}
        self._series: dict[SeriesKey, Cumulative] = {}
        self._lock = threading.Lock()  # offer() on the pipeline thread, collect() on scrapes

    def offer(self, interval: SeriesInterval) -> None:
        """Add one closed base interval (rollups repeat base intervals and are skipped)."""
        if interval.rollup:
            return
        dropped = 0
        with self._lock:
            for key, red in interval:
                totals = self._series.get(key)
                if totals is None:
                    if len(self._series) >= self.max_series:
                        dropped += 1
                        continue
                    totals = self._series[key] = Cumulative()
                totals.add(red, self.bounds)
        if dropped:
            self.on_drop(self.duration_name, dropped)

    def describe(self) -> list[Metric]:
        """Nothing to check at registration (names are the exporter's own)."""
        return []

    def collect(self) -> Iterable[Metric]:
        """The calls counter and the duration histogram of every series so far."""
        with self._lock:
            series = [(key, self._labels(key), c) for key, c in self._series.items()]
        if not series:
            return []
        keys = sorted({k for _, labels, _ in series for k in labels} | {"status_code"})
        calls = CounterMetricFamily(
            self.calls_name, "Spans per series and status.", labels=keys, unit=unit_suffix("{call}")
        )
        hist_keys = [k for k in keys if k != "status_code"]
        duration = HistogramMetricFamily(
            self.duration_name, "Span durations.", labels=hist_keys, unit=unit_suffix("s")
        )
        for _, labels, totals in series:
            for status, value in ((OK, totals.ok), (ERROR, totals.errors)):
                if value or status == OK:
                    row = {**labels, "status_code": status}
                    calls.add_metric([row.get(k, "") for k in keys], value)
            if totals.count:
                buckets = [
                    (str(b), n) for b, n in zip(self.bounds, totals.at_or_below, strict=True)
                ]
                buckets.append(("+Inf", totals.count))
                duration.add_metric(
                    [labels.get(k, "") for k in hist_keys], buckets, sum_value=totals.sum_s
                )
        return [calls, duration]

    def _labels(self, key: SeriesKey) -> dict[str, str]:
        attrs = {"service.name": key.service, **span_attributes(key)}
        return {**self.labels, **{label_name(k): v for k, v in attrs.items()}}

    def series_count(self) -> int:
        """How many series are held."""
        with self._lock:
            return len(self._series)
