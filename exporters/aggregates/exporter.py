"""The ``otlp_aggregates`` exporter: the trace tier's output to the analysis tier.

Subscribes to the series hub: every closed base span-metrics interval (not rollups, the
analysis tier rolls up itself), every closed bottlenecks window and each span-metrics
watermark become one OTLP metrics request, sent in that order by one worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from otel_perf.component import Context, Exporter, Factory
from otel_perf.exporters.aggregates.config import AggregatesExporterConfig
from otel_perf.exporters.aggregates.encode import (
    critical_path_request,
    interval_request,
    watermark_request,
)
from otel_perf.exporters.aggregates.sender import Sender
from otel_perf.findings import Finding
from otel_perf.series import CriticalPathInterval, SeriesInterval


class AggregatesExporter(Exporter):
    """Encodes what the hub publishes and hands it to the sender; never blocks the pipeline."""

    def __init__(self, context: Context, config: AggregatesExporterConfig) -> None:
        super().__init__(context)
        self.config = config
        self.sender = Sender(config)
        self.watermarks: dict[str, int] = {}
        self.intervals = self.windows = 0
        self._unsubscribe: list[Callable[[], None]] = []

    def start(self) -> None:
        self.sender.start()
        hub = self.context.series
        self._unsubscribe = [
            hub.subscribe(self._interval),
            hub.subscribe_critical_path(self._window),
            hub.subscribe_watermark(self._watermark),
        ]

    def _interval(self, interval: SeriesInterval) -> None:
        if interval.rollup or interval.aggregated or not interval.values:
            return
        self.sender.offer(interval_request(interval, self.config.instance))
        self.intervals += 1

    def _window(self, window: CriticalPathInterval) -> None:
        self.sender.offer(critical_path_request(window, self.config.instance))
        self.windows += 1

    def _watermark(self, source: str, watermark_ns: int) -> None:
        if watermark_ns <= self.watermarks.get(source, 0):
            return
        self.watermarks[source] = watermark_ns
        self.sender.offer(watermark_request(self.config.instance, source, watermark_ns))

    def export(self, findings: list[Finding]) -> None:
        """Findings are not aggregates: route them to an ``otlp`` exporter instead."""

    def flush(self) -> None:
        self.sender.flush(self.config.timeout * self.config.max_attempts)

    def shutdown(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        self.sender.close(self.config.timeout)

    def stats(self) -> dict[str, Any]:
        s = self.sender
        return {
            "intervals": self.intervals,
            "windows": self.windows,
            "sent": s.sent,
            "failed": s.failed,
            "dropped": s.dropped,
            "retries": s.retries,
        }


FACTORY: Factory[AggregatesExporterConfig, Exporter] = Factory(
    type="otlp_aggregates",
    config_model=AggregatesExporterConfig,
    create=AggregatesExporter,
    description="The trace tier's output: closed span-metrics intervals (exact exponential "
    "histograms, calls) and bottlenecks windows as OTLP metrics to the analysis tier.",
)
