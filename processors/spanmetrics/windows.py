"""Event-time base intervals (their 1 min and 1 h rollups: :mod:`otel_perf.rollups`).

Spans land in the base interval their end time falls in. A base interval
closes once ``now`` passes its end plus the grace for late spans; a span for an
interval already closed is added to the oldest open one and counted as late,
so totals stay right. Closed base intervals merge into 1 min and 1 h rollups,
which close when every base interval inside them has.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

from otel_perf.rollups import NS, Rollup, merge_intervals
from otel_perf.series import RED, SeriesInterval, SeriesKey

__all__ = ["NS", "PENDING_LIMIT", "Rollup", "Windows", "merge_intervals"]

PENDING_LIMIT = 4096  # durations waiting per series before they are recorded


class Windows:
    """Open base intervals keyed by start; closes them on ``advance(now)``.

    Durations wait in a compact array per series and reach the histogram in one
    vectorised call when the interval closes (or the array fills): a batch spreads
    over many series, and one numpy call per handful of values would cost more
    than the values themselves.
    """

    def __init__(
        self, interval_s: float, grace_s: float, thresholds_s: Iterable[float] = ()
    ) -> None:
        self.thresholds_s = tuple(thresholds_s)
        self.interval_ns = int(interval_s * NS)
        self.grace_ns = int(grace_s * NS)
        self.open: dict[int, dict[SeriesKey, RED]] = {}
        self.pending: dict[int, dict[SeriesKey, array[int]]] = {}
        self.watermark_ns = 0  # every interval ending at or before this is closed
        self.late_spans = 0

    def slot(self, end_ns: int) -> int:
        start = end_ns - end_ns % self.interval_ns
        if start < self.watermark_ns:
            self.late_spans += 1
            return self.watermark_ns
        return start

    def add(
        self,
        start_ns: int,
        key: SeriesKey,
        durations_ns: list[int] | NDArray[np.int64],
        errors: int,
    ) -> None:
        window = self.open.setdefault(start_ns, {})
        red = window.get(key)
        if red is None:
            red = window[key] = RED()
        red.calls += len(durations_ns)
        red.errors += errors
        waiting = self.pending.setdefault(start_ns, {})
        values = waiting.get(key)
        if values is None:
            values = waiting[key] = array("q")
        if isinstance(durations_ns, np.ndarray):  # int64 in a row: copied as they are
            values.frombytes(durations_ns.astype(np.int64, copy=False).tobytes())
        else:
            values.extend(durations_ns)
        if len(values) >= PENDING_LIMIT:
            _record(red, waiting.pop(key), self.thresholds_s)

    def settle(self) -> None:
        """Move every waiting duration into its histogram."""
        for start, waiting in self.pending.items():
            window = self.open[start]
            for key, values in waiting.items():
                _record(window[key], values, self.thresholds_s)
        self.pending.clear()

    def advance(self, now_ns: int, source: str) -> list[SeriesInterval]:
        """Close every interval whose end plus grace is at or before ``now_ns``."""
        closed = []
        if any(s + self.interval_ns + self.grace_ns <= now_ns for s in self.open):
            self.settle()
        for start in sorted(self.open):
            end = start + self.interval_ns
            if end + self.grace_ns > now_ns:
                break
            closed.append(
                SeriesInterval(start, end, self.interval_ns // NS, self.open.pop(start), source)
            )
        # time moves on even without traffic, so later spans cannot reopen the past
        horizon = now_ns - self.grace_ns
        self.watermark_ns = max(self.watermark_ns, horizon - horizon % self.interval_ns)
        return closed


def _record(red: RED, values: array[int], thresholds_s: tuple[float, ...] = ()) -> None:
    durations_ns = np.frombuffer(values, dtype=np.int64)
    red.duration_s.record_many(durations_ns / NS)
    for threshold in thresholds_s:  # the comparison the slo processor makes per span
        within = int(np.count_nonzero(durations_ns <= threshold * 1e9))
        red.within[threshold] = red.within.get(threshold, 0) + within
