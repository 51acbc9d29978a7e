"""The ``spanmetrics`` processor: RED series from spans, published through the series layer."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import deque
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np
from numpy.typing import NDArray

from otel_perf.codec import StateError
from otel_perf.component import Context, Factory, Processor
from otel_perf.findings import Finding
from otel_perf.model import SpanBatch, SpanRecord
from otel_perf.processors.spanmetrics import saved
from otel_perf.processors.spanmetrics.config import SpanMetricsConfig
from otel_perf.processors.spanmetrics.grouping import SeriesGroups, group_raws, series_groups
from otel_perf.processors.spanmetrics.keys import ALIASES, Keyer, priority
from otel_perf.processors.spanmetrics.windows import NS, Rollup, Windows, merge_intervals
from otel_perf.rollups import REDBlock, merged_block
from otel_perf.series import RED, SeriesInterval, SeriesKey

ROLLUPS_S = (60, 3600)
API_LIMIT = 500
MINUTE_S = 60
log = logging.getLogger("otel_perf.processors.spanmetrics")


class SpanMetricsProcessor(Processor):
    """Aggregates spans into RED series per interval and rolls them up to 1 min and 1 h.

    Closed intervals merge into the 1 min rollup; closed 1 min rollups into the 1 h one.
    """

    def __init__(self, context: Context, config: SpanMetricsConfig) -> None:
        super().__init__(context)
        self.config = config
        self.span_attributes = (
            frozenset(config.dimensions)
            | {alias for d in config.dimensions for alias in ALIASES.get(d, ())}
            | {"url.full", "http.url", "url.template"}  # what names an HTTP call's target
        )
        self.keyer = Keyer(
            config.dimensions,
            config.max_series_per_service,
            config.max_services,
            config.resource_dimensions,
            config.max_series,
        )
        self.windows = Windows(config.interval, config.late_grace, config.latency_thresholds)
        self.rollups = [Rollup(seconds) for seconds in ROLLUPS_S]
        self.recent: deque[SeriesInterval] = deque(
            maxlen=max(1, math.ceil(config.memory_horizon / config.interval))
        )
        self.spans = 0
        #: the stored 1 min rollups covering ``api_window`` before a restart: the API's view
        #: until the first base interval closes after it (see :meth:`_load_recent`)
        self.restored: list[SeriesInterval] = []
        self.state_discarded = 0  # stored rows that could not be read back
        self.changed = False  # since the open state was last saved

    # -- intake -------------------------------------------------------------
    def consume_spans(self, batch: SpanBatch) -> None:
        """Group the batch's spans by series on its columns; one key and one add per group.

        When the batch would take a series past a limit, the keyer judges its spans one
        by one in batch order instead, as admission and eviction depend on that order.
        """
        spans, columns, keyer, windows = batch.spans, batch.columns(), self.keyer, self.windows
        operations = columns.operations(spans)  # computed once per batch, shared
        groups = series_groups(
            columns,
            spans,
            operations,
            windows.interval_ns,
            windows.watermark_ns,
            keyer.dimensions,
            bool(keyer.resource_dimensions),
        )
        windows.late_spans += groups.late
        self.spans += len(batch)
        if not groups.first:
            return
        self.changed = True
        raws, services = group_raws(keyer, groups, columns, spans, operations)
        found = keyer.found(raws)
        durations = columns.duration_ns[groups.rows]
        if not keyer.admits(raws, services, found):
            errors = columns.errors(spans)[groups.rows]  # once per batch, shared with slo
            self._span_by_span(groups, raws, services, spans, durations, errors)
            return
        bounds = groups.bounds
        counts = [high - low for low, high in pairwise(bounds)]
        kinds = columns.kind[groups.first].tolist()
        keys = keyer.take_groups(raws, found, services, kinds, groups.priority, counts)
        windows.add_groups(groups.start_ns, keys, counts, groups.errors, durations)

    def _span_by_span(
        self,
        groups: SeriesGroups,
        raws: list[tuple[object, ...]],
        services: list[str],
        spans: Sequence[SpanRecord],
        durations: NDArray[np.int64],
        errors: NDArray[np.bool_],
    ) -> None:
        """The keyer asked per span, in batch order; adds still grouped per series."""
        group_of = np.repeat(np.arange(len(raws)), np.diff(groups.bounds))
        at = np.argsort(groups.rows, kind="stable")  # positions in batch order
        added: dict[tuple[int, SeriesKey], list[int]] = {}
        for position, g in zip(at.tolist(), group_of[at].tolist(), strict=True):
            span = spans[groups.first[g]]
            ((key, _),) = self.keyer.take(raws[g], services[g], span.kind, priority(span), 1)
            added.setdefault((groups.start_ns[g], key), []).append(position)
        for (start, key), positions in added.items():
            self.windows.add(
                start, key, durations[positions], int(np.count_nonzero(errors[positions]))
            )

    # -- evaluation ---------------------------------------------------------
    def tick(self, now_ns: int) -> list[Finding]:
        before = self.windows.watermark_ns
        closed = self.windows.advance(now_ns, self.id)
        for interval in closed:
            self._publish(interval)
        watermark = self.windows.watermark_ns
        self.changed |= bool(closed) or watermark != before
        self.context.series.advance_watermark(self.id, watermark)
        # Each rollup is built from the one below it as those close: the 1 h rollup from
        # closed 1 min ones, so an open minute is held once, not once more per hour.
        for rollup, above in zip(self.rollups, [*self.rollups[1:], None], strict=True):
            for interval in rollup.close_until(watermark, self.id):
                self.changed = True
                self._persist(interval)
                self.context.series.publish(interval)
                if above is not None:
                    above.add(interval)
        return []

    def _publish(self, interval: SeriesInterval) -> None:
        """Subscribers read the interval's RED objects; what stays (the recent intervals,
        the 1 min rollup) holds its series as one block of columns."""
        self.keyer.decay()
        self.context.series.publish(interval)
        kept = dataclasses.replace(interval, values=REDBlock.of(interval.values))
        self.recent.append(kept)
        self.rollups[0].add(kept)

    def _persist(self, interval: SeriesInterval) -> None:
        rows = [
            (key.service, key_id(key), {"key": key.to_dict(), **red.to_dict()})
            for key, red in interval.values.items()
        ]
        self.context.store.add_series(interval.resolution_s, interval.start_ns, rows)
        retention = (
            self.config.retention_1m if interval.resolution_s == 60 else self.config.retention_1h
        )
        self.context.store.expire_series(
            interval.resolution_s, interval.end_ns - int(retention * NS)
        )

    def finish(self, now_ns: int) -> list[Finding]:
        """Close every open interval and rollup (end of a replay)."""
        far = now_ns + self.windows.interval_ns + self.windows.grace_ns + 3600 * NS
        return self.tick(far - far % (3600 * NS) + self.windows.grace_ns)

    # -- state --------------------------------------------------------------
    def mark_changed(self) -> None:
        """What :meth:`flush` saves changed since it last saved."""
        self.changed = True

    def flush(self, now_ns: int) -> None:
        """Keep what is still open, so a restart (or kill -9) loses at most one flush;
        nothing is written when nothing changed since the last write."""
        if not self.changed:
            return
        self.windows.settle()
        rollups = [r.open for r in self.rollups]
        body = saved.document(self.windows.watermark_ns, self.windows.open, rollups)
        self.context.store.save_state(self.id, "open", body, now_ns)
        self.changed = False  # only once written: a failed write is tried again

    def start(self) -> None:
        state = self.context.store.load_state(self.id, "open")
        if not state:
            return
        try:
            restored = saved.restore(state, len(self.rollups))
        except StateError as exc:
            self.state_discarded += 1
            log.warning("%s: saved open intervals unreadable, starting afresh: %s", self.id, exc)
            return
        for problem in restored.problems:  # each window on its own: the others are kept
            self.state_discarded += 1
            log.warning("%s: a saved window unreadable, left out: %s", self.id, problem)
        self.windows.watermark_ns = restored.watermark_ns
        self.windows.open = restored.open
        for rollup, windows in zip(self.rollups, restored.rollups, strict=True):
            rollup.open = windows
        if restored.legacy and restored.rollups_version != 2 and self.rollups[0].open:
            # saved before the 1 h rollup was built from closed minutes: it already holds the
            # open minute, which would be added again when that minute closes
            log.warning("%s: open minute of an older saved state not carried over", self.id)
            self.rollups[0].open = {}
        self._load_recent()

    def _load_recent(self) -> None:
        """The stored 1 min rollups of the last ``api_window`` before the watermark, so the
        API is not empty after a restart while those rows are in the store. Only when
        ``api_window`` is whole minutes (the rollups' resolution; 1 min by default): the
        view then covers exactly the window it divides by."""
        minutes, rest = divmod(int(self.config.api_window), MINUTE_S)
        watermark = self.windows.watermark_ns
        if rest or not minutes or not watermark:
            return
        last = watermark - watermark % (MINUTE_S * NS)  # the end of the last whole minute
        since = last - minutes * MINUTE_S * NS
        by_start: dict[int, dict[SeriesKey, RED]] = {}
        try:
            for start, _, body in self.context.store.series(MINUTE_S, since):
                if start + MINUTE_S * NS <= last:
                    by_start.setdefault(start, {})[_key(body["key"])] = RED.from_dict(body)
        except (AssertionError, KeyError, TypeError, ValueError, AttributeError) as exc:
            self.state_discarded += 1
            log.warning("%s: stored 1 min rollups unreadable, not shown: %r", self.id, exc)
            return
        self.restored = [
            SeriesInterval(s, s + MINUTE_S * NS, MINUTE_S, values, self.id, rollup=True)
            for s, values in sorted(by_start.items())
        ]

    def shutdown(self) -> None:
        """Nothing held beyond memory; flush() has saved the open intervals."""

    # -- reading ------------------------------------------------------------
    def red(self, window_s: float | None = None) -> dict[SeriesKey, RED]:
        """RED per series over the most recent closed intervals covering ``window_s``."""
        return merge_intervals(self._window(window_s))

    def _window(self, window_s: float | None) -> list[SeriesInterval]:
        """The closed intervals covering ``window_s`` (the restored view after a restart)."""
        count = max(1, math.ceil((window_s or self.config.api_window) / self.config.interval))
        if not self.recent and (window_s or self.config.api_window) == self.config.api_window:
            return self.restored  # nothing closed since a restart yet
        return list(self.recent)[-count:]

    def snapshot(self) -> dict[str, Any]:
        window = self.config.api_window
        merged = merged_block(self._window(window))
        top = [] if merged is None else merged.top(API_LIMIT)
        rows = [] if merged is None else [(merged.series[r], merged.red(r)) for r in top]
        return {
            "window_s": window,
            "series": self.keyer.series,
            "overflowed_spans": self.keyer.overflowed_spans,
            "evicted_series": self.keyer.evicted_series,
            "late_spans": self.windows.late_spans,
            "spans": self.spans,
            "state_discarded": self.state_discarded,
            "red": [red_row(key, red, window) for key, red in rows],
        }


def red_row(key: SeriesKey, red: RED, window_s: float) -> dict[str, Any]:
    """A series' rate, error ratio and latency quantiles, for people and the API."""
    hist = red.duration_s
    p50, p95, p99 = hist.quantiles([0.5, 0.95, 0.99]) if red.calls else (math.nan,) * 3
    return {
        **key.to_dict(),
        "calls": red.calls,
        "errors": red.errors,
        "rate_per_s": round(red.calls / window_s, 4),
        "error_ratio": round(red.errors / red.calls, 6) if red.calls else 0.0,
        "p50_ms": _ms(p50),
        "p95_ms": _ms(p95),
        "p99_ms": _ms(p99),
    }


def _ms(seconds: float) -> float | None:
    return None if math.isnan(seconds) else round(seconds * 1000, 3)


def key_id(key: SeriesKey) -> str:
    dims = ",".join(f"{k}={v}" for k, v in key.dims)
    return f"{key.service}\x1f{key.operation}\x1f{key.span_kind}\x1f{dims}"


def _key(k: dict[str, Any]) -> SeriesKey:
    """A key as ``SeriesKey.to_dict`` wrote it."""
    return SeriesKey(k["service"], k["operation"], int(k["span_kind"]), tuple(k["dims"].items()))


FACTORY: Factory[SpanMetricsConfig, Processor] = Factory(
    type="spanmetrics",
    config_model=SpanMetricsConfig,
    create=SpanMetricsProcessor,
    description="RED metrics (calls, errors, exponential-histogram durations) per service "
    "and operation, rolled up to 1 min and 1 h.",
)
