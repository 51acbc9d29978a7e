"""The ``anomaly`` processor: one streaming detector per series, episodes as findings.

Series come from span metrics (rate, error ratio, latency quantiles per service and
operation, one point per closed interval) and from every received metric stream
(gauges as values, sums as rates, histograms as their p95). Each point is scored
once, in event-time order per series, by the same :class:`Detector` the NAB
benchmark runs.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

from otel_perf.component import Context, Factory, Processor, gauges
from otel_perf.component.metricmath import MetricStreams, point_value
from otel_perf.component.state import Document, PersistedStates, changed_keys, unchanged
from otel_perf.findings import Finding
from otel_perf.model import MetricBatch, MetricPoint, MetricType
from otel_perf.processors.anomaly.config import AnomalyConfig
from otel_perf.processors.anomaly.series import SeriesState, Settings, settings_for
from otel_perf.series import SeriesInterval

NS = 1_000_000_000
QUANTILES = {"p50_ms": 0.5, "p95_ms": 0.95, "p99_ms": 0.99}

gauges.register("otel_perf.anomaly.score", "1", "Latest anomaly score per series (0 to 1).")

#: a series' document (``SeriesState.to_dict``), version 1; a build before versions wrote
#: the same document bare (version 0), so it migrates as it is
SERIES = Document(dict[str, Any], version=1, migrations={0: unchanged})


class AnomalyProcessor(Processor):
    """Scores every covered series point by point; opens and resolves episodes."""

    def __init__(self, context: Context, config: AnomalyConfig) -> None:
        super().__init__(context)
        self.config = config
        self.series: OrderedDict[str, SeriesState] = OrderedDict()
        self.untracked = 0
        self.relearned = 0  # series restored under changed settings, learning afresh
        self.streams = MetricStreams(config.max_series)
        # each distinct resolved settings once, shared by its series (bounded by the
        # config: the rules a series can match)
        self._settings: dict[Settings, Settings] = {}
        self.pending: list[Finding] = []
        # one document per series, written when it changed, at most once per save_interval
        self.state = PersistedStates(context.store, self.id, SERIES, config.save_interval)
        self._unsubscribe = context.series.subscribe(self._interval)

    # -- intake -------------------------------------------------------------
    def _interval(self, interval: SeriesInterval) -> None:
        if interval.rollup:
            return
        seconds = interval.resolution_s
        t = interval.end_ns
        for key, red in interval.values.items():
            if key.is_overflow or not red.calls:
                continue
            where = f"{key.service} {key.operation}"
            for signal in self.config.span_signals:
                count = None
                if signal == "rate":
                    value = red.calls / seconds
                elif signal == "error_ratio":
                    value, count = red.errors / red.calls, float(red.calls)
                else:
                    value = red.duration_s.quantile(QUANTILES[signal]) * 1000
                self._observe(f"span.{signal}{{{where}}}", key.service, t, value, count)

    def consume_metrics(self, batch: MetricBatch) -> None:
        for point in batch.points:
            value = self._metric_value(point)
            if value is not None and math.isfinite(value):
                self._observe(
                    _metric_name(point), point.resource.service_name, point.time_ns, value
                )

    def _metric_value(self, point: MetricPoint) -> float | None:
        if point.type == MetricType.GAUGE:
            return point.value
        delta = self.streams.delta(point)
        if delta is None:
            return None
        if point.type == MetricType.SUM:
            seconds = (point.time_ns - point.start_ns) / NS if point.temporality == 1 else 0
            return delta.value if not seconds or seconds <= 0 else (delta.value or 0) / seconds
        return point_value(delta)

    def _observe(
        self, name: str, service: str, t_ns: int, value: float, count: float | None = None
    ) -> None:
        state = self._state(name, service)
        if state is None:
            return
        finding = state.observe(t_ns, value, self.id, count)
        if finding is not None:
            self.pending.append(finding)

    def _state(self, name: str, service: str) -> SeriesState | None:
        state = self.series.get(name)
        if state is not None:
            return state
        settings = settings_for(name, self.config)
        if settings is None:
            return None
        if len(self.series) >= self.config.max_series:
            self.untracked += 1
            return None
        settings = self._settings.setdefault(settings, settings)
        state = SeriesState.new(name, service, settings)
        saved = self.state.load(name)
        if saved:
            try:
                state.restore(saved)
            except (KeyError, TypeError, ValueError) as exc:  # damaged: learn afresh
                self.state.discard(name, exc)
                state = SeriesState.new(name, service, settings)
            self.relearned += state.relearned
        self.series[name] = state
        return state

    # -- evaluation ---------------------------------------------------------
    def tick(self, now_ns: int) -> list[Finding]:
        found, self.pending = self.pending, []
        return found

    def flush(self, now_ns: int) -> None:
        self.state.flush(now_ns, self._document, changed_keys(self.series))

    def _document(self, name: str) -> dict[str, Any] | None:
        state = self.series.get(name)
        return None if state is None else state.to_dict()

    def shutdown(self) -> None:
        self._unsubscribe()
        self._unsubscribe = lambda: None

    def snapshot(self) -> dict[str, Any]:
        ranked = sorted(self.series.values(), key=lambda s: -s.last_score)
        return {
            "series": len(self.series),
            "untracked": self.untracked,
            "relearned": self.relearned,
            "state_discarded": self.state.discarded,
            "open_episodes": [s.view() for s in ranked if s.episode is not None],
            "top_scores": [s.view() for s in ranked[:50]],
        }

    def gauges(self) -> list[tuple[str, float, dict[str, str]]]:
        return [
            ("otel_perf.anomaly.score", s.last_score, {"series": s.name, "service.name": s.service})
            for s in self.series.values()
            if s.points
        ]


def _metric_name(point: MetricPoint) -> str:
    attrs = ",".join(f"{k}={v!s}" for k, v in sorted(point.attributes.items()))
    return f"metric:{point.name}{{{point.resource.service_name}{',' if attrs else ''}{attrs}}}"


__all__ = ["AnomalyProcessor", "Settings"]

FACTORY: Factory[AnomalyConfig, Processor] = Factory(
    type="anomaly",
    config_model=AnomalyConfig,
    create=AnomalyProcessor,
    description="Streaming anomaly detection on span metrics and every received metric, "
    "one finding per episode.",
)
