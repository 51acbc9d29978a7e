"""Event-time base intervals (their 1 min and 1 h rollups: :mod:`otel_perf.rollups`).

Spans land in the base interval their end time falls in. A base interval
closes once ``now`` passes its end plus the grace for late spans; a span for an
interval already closed is added to the oldest open one and counted as late,
so totals stay right. Closed base intervals merge into 1 min and 1 h rollups,
which close when every base interval inside them has.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from otel_perf.histogram.grouped import record_groups
from otel_perf.rollups import NS, Rollup, merge_intervals
from otel_perf.series import RED, SeriesInterval, SeriesKey, add_within

__all__ = ["NS", "PENDING_LIMIT", "Rollup", "Windows", "merge_intervals"]

PENDING_LIMIT = 1 << 18  # durations waiting (all series) before they are recorded


class Windows:
    """Open base intervals keyed by start; closes them on ``advance(now)``.

    A batch's groups wait as they came (:meth:`add_groups`: one chunk of arrays per
    batch) and reach their series in one grouped pass when an interval closes (or
    :data:`PENDING_LIMIT` durations wait): calls and errors summed with ``bincount``,
    each series' durations recorded into its histogram in one vectorised call. Python
    touches a series once per batch (to name it) and once per interval (to record it).
    """

    def __init__(
        self, interval_s: float, grace_s: float, thresholds_s: Iterable[float] = ()
    ) -> None:
        self.thresholds_s = tuple(thresholds_s)
        self.interval_ns = int(interval_s * NS)
        self.grace_ns = int(grace_s * NS)
        self.open: dict[int, dict[SeriesKey, RED]] = {}
        self.pending: list[_Chunk] = []
        self.pending_starts: set[int] = set()
        self.pending_values = 0
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
        """``durations_ns`` of one series, ``errors`` of them errors, in the interval at
        ``start_ns``."""
        durations = np.asarray(durations_ns, dtype=np.int64)
        self.add_groups([start_ns], [key], [len(durations)], np.array([errors]), durations)

    def add_groups(
        self,
        starts_ns: list[int],
        keys: list[SeriesKey],
        counts: list[int],
        errors: NDArray[np.integer],
        durations_ns: NDArray[np.int64],
    ) -> None:
        """Groups of spans: group ``g`` is ``counts[g]`` durations of ``keys[g]`` in the
        interval at ``starts_ns[g]`` (``durations_ns`` holds them group after group),
        ``errors[g]`` of them errors. The arrays are kept as they are: not to be changed."""
        if not keys:
            return
        self.pending.append(_Chunk(starts_ns, keys, counts, errors, durations_ns))
        self.pending_starts.update(starts_ns)
        self.pending_values += len(durations_ns)
        if self.pending_values >= PENDING_LIMIT:
            self.settle()

    def settle(self) -> None:
        """Move every waiting group into its series: one grouped pass over the chunks."""
        chunks, self.pending = self.pending, []
        self.pending_starts.clear()
        self.pending_values = 0
        if not chunks:
            return
        index: dict[tuple[int, SeriesKey], int] = {}
        slots = np.array(
            [
                index.setdefault(series, len(index))
                for chunk in chunks
                for series in zip(chunk.starts_ns, chunk.keys, strict=True)
            ],
            np.intp,
        )
        counts = np.array([n for chunk in chunks for n in chunk.counts], np.intp)
        errors = np.concatenate([chunk.errors for chunk in chunks])
        durations = np.concatenate([chunk.durations_ns for chunk in chunks])
        calls = np.bincount(slots, counts, len(index)).astype(np.int64).tolist()
        wrong = np.bincount(slots, errors, len(index)).astype(np.int64).tolist()
        by_slot = _runs_by_slot(slots, counts)  # arrival order kept
        seconds = durations[by_slot] / NS
        bounds = np.concatenate(([0], np.cumsum(calls))).tolist()
        histograms = []
        for (start, key), slot in index.items():
            window = self.open.get(start)
            if window is None:
                window = self.open[start] = {}
            red = window.get(key)
            if red is None:
                red = window[key] = RED()
            red.calls += calls[slot]
            red.errors += wrong[slot]
            histograms.append(red.duration_s)
        record_groups(histograms, seconds, bounds)  # slots are numbered in this order
        if self.thresholds_s:
            self._count_within(index, durations[by_slot], bounds)

    def _count_within(
        self,
        index: dict[tuple[int, SeriesKey], int],
        durations_ns: NDArray[np.int64],
        bounds: list[int],
    ) -> None:
        """Per series, its calls at or under each latency threshold (the comparison the
        slo processor makes per span), exact."""
        low, high = np.array(bounds[:-1], np.intp), np.array(bounds[1:], np.intp)
        for threshold in self.thresholds_s:
            running = np.concatenate(([0], np.cumsum(durations_ns <= threshold * 1e9)))
            per_slot = (running[high] - running[low]).tolist()
            for (start, key), slot in index.items():
                red = self.open[start][key]
                red.within = add_within(red.within, {threshold: per_slot[slot]})

    def advance(self, now_ns: int, source: str) -> list[SeriesInterval]:
        """Close every interval whose end plus grace is at or before ``now_ns``."""
        closed = []
        if any(s + self.interval_ns + self.grace_ns <= now_ns for s in self.pending_starts):
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


def _runs_by_slot(slots: NDArray[np.intp], counts: NDArray[np.intp]) -> NDArray[np.intp]:
    """The positions of the values (group after group, ``counts[g]`` each) ordered by their
    group's slot, in arrival order within a slot: ``argsort(repeat(slots, counts),
    kind="stable")``, sorting the groups rather than every value."""
    order = np.argsort(slots, kind="stable")
    starts = np.cumsum(counts) - counts
    sizes = counts[order]
    shift = np.repeat(starts[order] - (np.cumsum(sizes) - sizes), sizes)
    return shift + np.arange(int(sizes.sum()), dtype=np.intp)


@dataclass(frozen=True, slots=True)
class _Chunk:
    """One batch's groups, waiting (see :meth:`Windows.add_groups`)."""

    starts_ns: list[int]
    keys: list[SeriesKey]
    counts: list[int]
    errors: NDArray[np.integer]
    durations_ns: NDArray[np.int64]
