"""The ``aggregates`` processor: the analysis tier's intake of trace-tier aggregates.

Received ``otlp_aggregates`` metrics are merged per interval across trace-tier instances
(:mod:`merge`) and published on the series hub as intervals marked ``aggregated`` — with
the same bounds and resolution span metrics would have given — then rolled up to 1 min
and 1 h like span metrics' own. slo, anomaly, regression and capacity subscribe to the
hub, so they run unchanged. Bottlenecks windows are summed per window and ranked.

What is open (intervals, watermarks, rollups, windows) and the counters are saved through
:mod:`.state` at most once per ``save_interval`` and at shutdown; a restart goes on where
the last save left off. A saved document that is damaged is dropped on start (one
warning, counted in ``state_discarded``).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from otel_perf import tiers
from otel_perf.component import Context, Factory, Processor
from otel_perf.component.state import PersistedState
from otel_perf.findings import Finding
from otel_perf.model import MetricBatch, MetricPoint
from otel_perf.processors.aggregates.config import AggregatesConfig
from otel_perf.processors.aggregates.intake import (
    NAMES,
    SERIES_NAMES,
    NotAnAggregate,
    WindowPart,
    add_window_point,
    series_part,
    watermark,
)
from otel_perf.processors.aggregates.merge import NS, IntervalMerger
from otel_perf.processors.aggregates.ranking import ranking
from otel_perf.processors.aggregates.state import (
    MERGER_COUNTERS,
    AggregatesState,
    interval_doc,
    merger_parts,
    open_interval,
    restore_merger,
    window_doc,
    window_of,
)
from otel_perf.rollups import Rollup
from otel_perf.series import SeriesInterval

log = logging.getLogger("otel_perf.processors.aggregates")
ROLLUPS_S = (60, 3600)
SOURCE_NOTE = (
    "trace-tier aggregates: critical-path and self time summed over the trace-tier "
    "instances' bottlenecks windows (exemplars, queries and patterns stay on the trace tier)"
)


class AggregatesProcessor(Processor):
    """Merges what the trace tier sends; publishes closed intervals on event time."""

    def __init__(self, context: Context, config: AggregatesConfig) -> None:
        super().__init__(context)
        self.config = config
        self.merger = self._fresh_merger()
        self.rollups = [Rollup(seconds) for seconds in ROLLUPS_S]
        self.windows: dict[tuple[int, int], WindowPart] = {}
        self.points = self.rejected = self.windows_dropped = 0
        self.last_rejection = ""
        self.state = PersistedState(
            context.store, self.id, "open", AggregatesState, config.save_interval
        )
        self.state_discarded = 0  # saved documents that could not be restored
        self.seen_ns = 0  # the latest event time of a tick or flush, for the save at shutdown

    def _fresh_merger(self) -> IntervalMerger:
        config = self.config
        return IntervalMerger(
            config.expected_instances,
            int(config.grace * NS),
            config.max_instances,
            config.max_open_intervals,
            config.max_series,
        )

    def consume_metrics(self, batch: MetricBatch) -> None:
        for point in batch.points:
            if point.name not in NAMES:
                continue
            self.points += 1
            self.state.mark_dirty()
            try:
                self._take(point)
            except NotAnAggregate as exc:
                self.rejected += 1
                self.last_rejection = f"{point.service_name}: {exc}"

    def _take(self, point: MetricPoint) -> None:
        if point.name in SERIES_NAMES:
            self.merger.add(series_part(point))
        elif point.name == tiers.WATERMARK:
            self.merger.watermark(*watermark(point))
        else:
            add_window_point(self.windows, point, self.config.max_operations)
            self._trim_windows()

    def _trim_windows(self) -> None:
        keep = self.config.bottleneck_windows + 1  # one more: a late window's neighbour
        while len(self.windows) > keep:
            del self.windows[min(self.windows)]
            self.windows_dropped += 1

    # -- evaluation ---------------------------------------------------------
    def tick(self, now_ns: int) -> list[Finding]:
        self.seen_ns = max(self.seen_ns, now_ns)
        self._publish(self.merger.close(now_ns, self.id))
        return []

    def finish(self, now_ns: int) -> list[Finding]:
        self._publish(self.merger.close_all(self.id))
        far = self.merger.closed_ns + 3600 * NS
        self._close_rollups(far - far % (3600 * NS))
        return []

    def _publish(self, intervals: list[SeriesInterval]) -> None:
        hub = self.context.series
        for interval in intervals:
            hub.publish(interval)
            for rollup in self.rollups:
                rollup.add(interval)
        if intervals:
            self.state.mark_dirty()
            self._close_rollups(self.merger.closed_ns)

    def _close_rollups(self, watermark_ns: int) -> None:
        for rollup in self.rollups:
            for interval in rollup.close_until(watermark_ns, self.id):
                self.context.series.publish(dataclasses.replace(interval, aggregated=True))

    # -- state --------------------------------------------------------------
    def start(self) -> None:
        raw = self.context.store.load_state(self.id, self.state.name)
        if raw is None:
            return
        try:
            self._restore(AggregatesState.model_validate(raw))
        except (KeyError, TypeError, ValueError) as exc:  # pydantic's ValidationError too
            self.state_discarded += 1
            log.warning("%s: saved state 'open' unreadable, starting afresh: %s", self.id, exc)
            self.merger = self._fresh_merger()
            self.rollups = [Rollup(seconds) for seconds in ROLLUPS_S]
            self.windows = {}

    def _restore(self, saved: AggregatesState) -> None:
        restore_merger(self.merger, saved)
        for rollup, windows in zip(self.rollups, saved.rollups, strict=False):
            for doc in windows:
                rollup.open[doc.start_ns] = open_interval(doc, self.config.max_series).values
        keep = saved.windows[-(self.config.bottleneck_windows + 1) :]
        parts = [window_of(doc, self.config.max_operations) for doc in keep]
        self.windows = {(w.start_ns, w.end_ns): w for w in parts}
        counters = saved.counters
        self.points, self.rejected = counters.get("points", 0), counters.get("rejected", 0)
        self.windows_dropped = counters.get("windows_dropped", 0)
        self.last_rejection = saved.last_rejection

    def flush(self, now_ns: int) -> None:
        self.seen_ns = max(self.seen_ns, now_ns)
        self.state.flush(now_ns, self._document)

    def shutdown(self) -> None:
        self.state.close(self.seen_ns, self._document)

    def _document(self) -> AggregatesState:
        merger = self.merger
        counters = {name: int(getattr(merger, name)) for name in MERGER_COUNTERS}
        counters |= {
            "points": self.points,
            "rejected": self.rejected,
            "windows_dropped": self.windows_dropped,
        }
        rollups = [
            [
                interval_doc(start, start + r.resolution_ns, values)
                for start, values in r.open.items()
            ]
            for r in self.rollups
        ]
        return AggregatesState(
            **merger_parts(merger),
            counters=counters,
            last_rejection=self.last_rejection,
            windows=[window_doc(self.windows[b]) for b in sorted(self.windows)],
            rollups=rollups,
        )

    # -- reading ------------------------------------------------------------
    def bottlenecks(self) -> dict[str, Any]:
        """The ranking over the last ``bottleneck_windows`` windows, as a single
        instance's ``/performance/bottlenecks`` ranks them."""
        latest = sorted(self.windows)[-self.config.bottleneck_windows :]
        windows = [self.windows[b] for b in latest]
        return {
            "source": SOURCE_NOTE,
            "windows": [{"start_ns": w.start_ns, "end_ns": w.end_ns} for w in windows],
            "traces_analysed": sum(w.traces for w in windows),
            "ranking": ranking(windows),
            "merge": self.merge_status(),
        }

    def merge_status(self) -> dict[str, Any]:
        """Instances' watermarks and the intervals open, closed, late and rejected."""
        merger = self.merger
        return {
            "expected_instances": self.config.expected_instances,
            "instances": {i: merger.instance_watermark(i) for i in sorted(merger.marks)},
            "open_intervals": len(merger.open),
            "closed_intervals": merger.closed,
            "closed_until_ns": merger.closed_ns,
            "closed_early": merger.closed_early,
            "points": self.points,
            "late_points": merger.late,
            "rejected_points": self.rejected,
            "last_rejection": self.last_rejection,
            "overflowed": merger.overflowed + merger.untracked_instances,
        }

    def snapshot(self) -> dict[str, Any]:
        status = {**self.merge_status(), "state_discarded": self.state_discarded}
        return {**status, "bottlenecks": self.bottlenecks()}


FACTORY: Factory[AggregatesConfig, Processor] = Factory(
    type="aggregates",
    config_model=AggregatesConfig,
    create=AggregatesProcessor,
    description="The analysis tier's intake: trace-tier aggregates (otlp_aggregates) merged "
    "exactly per interval and published as series; bottleneck ranking from their sums.",
)
