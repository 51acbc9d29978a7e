"""Event-time base intervals (their 1 min and 1 h rollups: :mod:`otel_perf.rollups`).

Spans land in the base interval their end time falls in. A base interval
closes once ``now`` passes its end plus the grace for late spans; a span for an
interval already closed is added to the oldest open one and counted as late,
so totals stay right. Closed base intervals merge into 1 min and 1 h rollups,
which close when every base interval inside them has.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from otel_perf.facts import I64, group_by
from otel_perf.histogram.grouped import record_groups
from otel_perf.rollups import NS, Rollup, merge_intervals
from otel_perf.series import RED, SeriesInterval, SeriesKey, add_within

__all__ = ["NS", "PENDING_LIMIT", "Rollup", "Windows", "merge_intervals"]

PENDING_LIMIT = 1 << 18  # durations waiting (all series) before they are recorded


class Windows:
    """Open base intervals keyed by start; closes them on ``advance(now)``.

    A batch's groups wait as they came (:meth:`add_groups`: one chunk of arrays per
    batch, each series by a number) and reach their series in one grouped pass when their
    interval closes (or :data:`PENDING_LIMIT` durations wait, or :meth:`settle` is
    called): the groups grouped again by (interval, series) in one pass, calls and errors
    summed per series, each series' durations recorded into its histogram in one
    vectorised call. Python touches a series once per batch (to name it) and once per
    interval (to record it).
    """

    def __init__(
        self, interval_s: float, grace_s: float, thresholds_s: Iterable[float] = ()
    ) -> None:
        self.thresholds_s = tuple(thresholds_s)
        self.interval_ns = int(interval_s * NS)
        self.grace_ns = int(grace_s * NS)
        self.open: dict[int, dict[SeriesKey, RED]] = {}
        self.pending: list[_Chunk] = []
        self.pending_values = 0
        self.pending_low_ns: int | None = None  # the earliest interval waiting
        #: the series of the waiting groups, numbered (bounded: renumbered at each settle)
        self._numbers: dict[SeriesKey, int] = {}
        self._keys: list[SeriesKey] = []
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
        numbers, known = self._numbers, self._keys
        series = []
        for key in keys:
            number = numbers.get(key)
            if number is None:
                number = numbers[key] = len(known)
                known.append(key)
            series.append(number)
        low = min(starts_ns)
        if self.pending_low_ns is None or low < self.pending_low_ns:
            self.pending_low_ns = low
        self.pending.append(
            _Chunk(
                np.array(starts_ns, np.int64),
                np.array(series, np.int64),
                np.array(counts, np.int64),
                np.asarray(errors, np.int64),
                durations_ns,
            )
        )
        self.pending_values += len(durations_ns)
        if self.pending_values >= PENDING_LIMIT:
            self.settle()

    def settle(self, before_ns: int | None = None) -> None:
        """Move the waiting groups of intervals starting before ``before_ns`` (all when
        None) into their series: one grouped pass over the chunks."""
        low = self.pending_low_ns
        if low is None or (before_ns is not None and low >= before_ns):
            return
        waiting = _Chunk.joined(self.pending)
        now, rest = waiting.split(before_ns)
        keys = self._keys
        self._renumber(rest)
        if now is None:
            return
        index, runs, bounds = now.by_series()
        calls = np.add.reduceat(now.counts[runs], bounds[:-1]).tolist()
        wrong = np.add.reduceat(now.errors[runs], bounds[:-1]).tolist()
        durations = now.durations_ns[_values_of(now.counts, runs)]  # by series, in arrival
        seconds = durations / NS
        value_bounds = np.concatenate(([0], np.cumsum(calls))).tolist()
        histograms, reds = [], []
        for i, (start, number) in enumerate(index):
            window = self.open.get(start)
            if window is None:
                window = self.open[start] = {}
            key = keys[number]
            red = window.get(key)
            if red is None:
                red = window[key] = RED()
            red.calls += calls[i]
            red.errors += wrong[i]
            histograms.append(red.duration_s)
            reds.append(red)
        record_groups(histograms, seconds, value_bounds)  # series in this order
        if self.thresholds_s:
            _count_within(self.thresholds_s, reds, durations, value_bounds)

    def _renumber(self, rest: _Chunk | None) -> None:
        """Keep the numbers of the series still waiting only (``rest``: what still waits)."""
        if rest is None:
            self.pending, self.pending_values, self.pending_low_ns = [], 0, None
            self._numbers, self._keys = {}, []
            return
        used, series = np.unique(rest.series, return_inverse=True)
        keys = [self._keys[n] for n in used.tolist()]
        self._keys, self._numbers = keys, {key: n for n, key in enumerate(keys)}
        self.pending = [dataclasses.replace(rest, series=series.reshape(-1).astype(np.int64))]
        self.pending_values = len(rest.durations_ns)
        self.pending_low_ns = int(rest.starts_ns.min())

    def advance(self, now_ns: int, source: str) -> list[SeriesInterval]:
        """Close every interval whose end plus grace is at or before ``now_ns``."""
        closed = []
        self.settle(now_ns - self.grace_ns - self.interval_ns + 1)
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


def _count_within(
    thresholds_s: tuple[float, ...],
    reds: list[RED],
    durations_ns: NDArray[np.int64],
    bounds: list[int],
) -> None:
    """Per series, its calls at or under each latency threshold (the comparison the slo
    processor makes per span), exact."""
    low, high = np.array(bounds[:-1], np.intp), np.array(bounds[1:], np.intp)
    for threshold in thresholds_s:
        running = np.concatenate(([0], np.cumsum(durations_ns <= threshold * 1e9)))
        per_series = (running[high] - running[low]).tolist()
        for red, within in zip(reds, per_series, strict=True):
            red.within = add_within(red.within, {threshold: within})


def _values_of(counts: NDArray[np.int64], runs: NDArray[np.int64]) -> NDArray[np.intp]:
    """The positions of the values (group after group, ``counts[g]`` each) of the groups
    ``runs``, in that order, each group's values in arrival order."""
    starts = np.cumsum(counts) - counts
    sizes = counts[runs]
    shift = np.repeat(starts[runs] - (np.cumsum(sizes) - sizes), sizes)
    return shift + np.arange(int(sizes.sum()), dtype=np.intp)


@dataclass(frozen=True, slots=True)
class _Chunk:
    """Groups waiting (see :meth:`Windows.add_groups`): group ``g`` is ``counts[g]``
    durations of series number ``series[g]`` in the interval at ``starts_ns[g]``."""

    starts_ns: NDArray[np.int64]
    series: NDArray[np.int64]
    counts: NDArray[np.int64]
    errors: NDArray[np.int64]
    durations_ns: NDArray[np.int64]

    @classmethod
    def joined(cls, chunks: list[_Chunk]) -> _Chunk:
        if len(chunks) == 1:
            return chunks[0]
        return cls(*(np.concatenate(parts) for parts in zip(*map(_fields, chunks), strict=True)))

    def split(self, before_ns: int | None) -> tuple[_Chunk | None, _Chunk | None]:
        """(the groups of intervals starting before ``before_ns``, the others)."""
        if before_ns is None:
            return self, None
        now = self.starts_ns < before_ns
        if now.all():
            return self, None
        if not now.any():
            return None, self
        return self.take(now), self.take(~now)

    def take(self, groups: NDArray[np.bool_]) -> _Chunk:
        """The chunk of ``groups`` only."""
        values = np.repeat(groups, self.counts)
        return _Chunk(
            self.starts_ns[groups],
            self.series[groups],
            self.counts[groups],
            self.errors[groups],
            self.durations_ns[values],
        )

    def by_series(self) -> tuple[list[tuple[int, int]], I64, I64]:
        """The groups by (interval, series): the distinct pairs in order of first
        appearance, the groups pair after pair (each pair's in arrival order) and the
        bounds of each pair in those."""
        first, runs, bounds, _ = group_by((self.starts_ns, self.series))
        pairs = list(zip(self.starts_ns[first].tolist(), self.series[first].tolist(), strict=True))
        return pairs, runs, bounds


def _fields(chunk: _Chunk) -> tuple[NDArray[np.int64], ...]:
    return (chunk.starts_ns, chunk.series, chunk.counts, chunk.errors, chunk.durations_ns)
