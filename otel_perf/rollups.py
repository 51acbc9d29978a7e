"""Rollups of closed series intervals: what span metrics and the trace-tier aggregates share.

Closed base intervals merge into windows of a coarser resolution (1 min, 1 h), aligned to
the epoch; a window closes once the watermark has passed its end. :func:`merge_intervals`
merges several intervals' series into one RED each (what a sliding window reads).
"""

from __future__ import annotations

from collections.abc import Iterable

from otel_perf.series import RED, SeriesInterval, SeriesKey

NS = 1_000_000_000


class Rollup:
    """Merges closed intervals into windows of ``resolution_s`` (aligned to the epoch).

    Copy on write: a window's first RED for a key is the closed interval's own (closed
    intervals are read-only everywhere), copied only when a second interval merges into it.
    A series seen once in a window — most of them at high cardinality — costs no copy.
    """

    def __init__(self, resolution_s: int) -> None:
        self.resolution_s = resolution_s
        self.resolution_ns = resolution_s * NS
        self.open: dict[int, dict[SeriesKey, RED]] = {}
        self.borrowed: dict[int, set[SeriesKey]] = {}  # per window: REDs still shared

    def add(self, interval: SeriesInterval) -> None:
        start = interval.start_ns - interval.start_ns % self.resolution_ns
        window = self.open.setdefault(start, {})
        borrowed = self.borrowed.setdefault(start, set())
        for key, red in interval.values.items():
            current = window.get(key)
            if current is None:
                window[key] = red
                borrowed.add(key)
                continue
            if key in borrowed:
                current = window[key] = current.copy()
                borrowed.discard(key)
            current.merge(red)

    def close_until(self, watermark_ns: int, source: str) -> list[SeriesInterval]:
        """Windows wholly before ``watermark_ns`` (all their base intervals closed)."""
        done = sorted(s for s in self.open if s + self.resolution_ns <= watermark_ns)
        for start in done:
            self.borrowed.pop(start, None)
        return [
            SeriesInterval(
                s, s + self.resolution_ns, self.resolution_s, self.open.pop(s), source, rollup=True
            )
            for s in done
        ]


def merge_intervals(intervals: Iterable[SeriesInterval]) -> dict[SeriesKey, RED]:
    """One RED per key over several intervals."""
    merged: dict[SeriesKey, RED] = {}
    for interval in intervals:
        for key, red in interval.values.items():
            current = merged.get(key)
            if current is None:
                merged[key] = red.copy()
            else:
                current.merge(red)
    return merged
