"""At most ``max_series`` series per metric in a scrape; the rest left out and counted.

Wraps the registry the OTel reader and the span-metrics collector write into. A
series is one label set (a histogram's ``le`` buckets belong to their series).
Series that were exposed in the previous scrape keep their place, so the set a
dashboard sees stays stable while the cap is hit; freed places go to new series
in the order the source lists them.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable

from prometheus_client.core import CollectorRegistry, CounterMetricFamily, Metric

Series = frozenset[tuple[str, str]]
DROPPED = "otel_perf.prometheus.series_dropped"


def series_of(labels: dict[str, str]) -> Series:
    """The series a sample belongs to: its labels without the bucket bound."""
    return frozenset((k, v) for k, v in labels.items() if k != "le")


class SeriesCap:
    """A prometheus_client collector exposing ``source`` with a per-metric series cap.

    Args:
        source: the registry to read at each scrape.
        max_series: series one metric family may expose.
        dropped_name: the Prometheus name (without ``_total``) of the drop counter.
    """

    def __init__(self, source: CollectorRegistry, max_series: int, dropped_name: str) -> None:
        self.source = source
        self.max_series = max_series
        self.dropped_name = dropped_name
        self.dropped: Counter[str] = Counter()  # by metric name; names are otel-perf's own
        self._previous: dict[str, set[Series]] = {}
        self._lock = threading.Lock()  # scrapes may run concurrently

    def count_dropped(self, metric: str, n: int) -> None:
        """Count ``n`` series of ``metric`` left out (also used for drops at intake)."""
        with self._lock:
            self.dropped[metric] += n

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        """Every family of the source, capped, then the drop counter."""
        families = list(self.source.collect())
        with self._lock:
            capped = [self._cap(family) for family in families]
            counter = CounterMetricFamily(
                self.dropped_name,
                "Series left out of scrapes by max_series_per_metric (each time), by metric.",
                labels=["metric"],
            )
            for metric, n in sorted(self.dropped.items()):
                counter.add_metric([metric], n)
        return [*capped, counter]

    def _cap(self, family: Metric) -> Metric:
        order: dict[Series, None] = {}
        for sample in family.samples:
            order.setdefault(series_of(sample.labels), None)
        previous = self._previous.get(family.name, set())
        if len(order) <= self.max_series:
            if previous:  # was capped: remember who was in, in case it grows again
                self._previous[family.name] = set(order)
            return family
        kept = [s for s in order if s in previous][: self.max_series]
        room = self.max_series - len(kept)
        kept += [s for s in order if s not in previous][:room]
        keep = set(kept)
        self._previous[family.name] = keep
        self.dropped[family.name] += len(order) - len(keep)
        family.samples = [s for s in family.samples if series_of(s.labels) in keep]
        return family
