"""Rollups of closed series intervals: what span metrics and the trace-tier aggregates share.

Closed base intervals merge into windows of a coarser resolution (1 min, 1 h), aligned to
the epoch; a window closes once the watermark has passed its end. :func:`merge_intervals`
merges several intervals' series into one RED each (what a sliding window reads).

What stays in memory after an interval closes is a :class:`REDBlock`: its series as
columns (calls, errors, and the histograms as a
:class:`~otel_perf.histogram.block.HistogramBlock`), not a RED object per series. Readers
see a ``Mapping[SeriesKey, RED]`` as before; each RED they read is built afresh from the
columns (equal to the one stored), so nothing a reader does changes the block.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, Iterator, Mapping, Sequence, ValuesView

import numpy as np
from numpy.typing import NDArray

from otel_perf.histogram.block import HistogramBlock
from otel_perf.series import NO_WITHIN, RED, SeriesInterval, SeriesKey, add_within

NS = 1_000_000_000

__all__ = ["NS", "REDBlock", "Rollup", "merge_intervals", "merged_block"]


class REDBlock(Mapping[SeriesKey, RED]):
    """Series of one closed interval or window as columns, read as ``{key: RED}``.

    Rows keep the order the series came in (as a dict's keys would). Immutable:
    :meth:`combine` makes a new block.
    """

    __slots__ = ("_index", "calls", "errors", "histograms", "series", "within")

    def __init__(
        self,
        keys: Sequence[SeriesKey],
        calls: NDArray[np.int64],
        errors: NDArray[np.int64],
        histograms: HistogramBlock,
        within: tuple[Mapping[float, int], ...] | None = None,
    ) -> None:
        self.series = tuple(keys)
        self.calls = calls
        self.errors = errors
        self.histograms = histograms
        #: per row its ``RED.within``; None when every row's is empty (no thresholds)
        self.within = within
        self._index: dict[SeriesKey, int] | None = None  # built on the first lookup by key

    @classmethod
    def of(cls, values: Mapping[SeriesKey, RED]) -> REDBlock:
        """``values`` as a block (a block is returned as it is)."""
        if isinstance(values, REDBlock):
            return values
        reds = list(values.values())
        within = tuple(red.within for red in reds)
        return cls(
            list(values),
            np.fromiter((red.calls for red in reds), np.int64, len(reds)),
            np.fromiter((red.errors for red in reds), np.int64, len(reds)),
            HistogramBlock.of([red.duration_s for red in reds]),
            within if any(within) else None,
        )

    def red(self, row: int) -> RED:
        """Row ``row`` as a RED of its own."""
        within = NO_WITHIN if self.within is None else self.within[row]
        return RED(
            int(self.calls[row]), int(self.errors[row]), self.histograms.histogram(row), within
        )

    def __getitem__(self, key: SeriesKey) -> RED:
        if self._index is None:
            self._index = {k: i for i, k in enumerate(self.series)}
        return self.red(self._index[key])

    def __iter__(self) -> Iterator[SeriesKey]:
        return iter(self.series)

    def __len__(self) -> int:
        return len(self.series)

    def __contains__(self, key: object) -> bool:
        if self._index is None:
            self._index = {k: i for i, k in enumerate(self.series)}
        return key in self._index

    def rows(self) -> Iterator[tuple[SeriesKey, RED]]:
        """``(key, RED)`` of every row in order (what ``items()`` gives, without lookups)."""
        for row, key in enumerate(self.series):
            yield key, self.red(row)

    def items(self) -> _Items:
        return _Items(self)

    def values(self) -> _Values:
        return _Values(self)

    def combine(self, other: REDBlock) -> REDBlock:
        """This block with ``other`` merged in: ``RED.merge`` per key both hold, ``other``'s
        new keys appended in its order."""
        index = self._index or {k: i for i, k in enumerate(self.series)}
        into = np.fromiter((index.get(k, -1) for k in other.series), np.intp, len(other))
        new = np.flatnonzero(into < 0)
        matched = np.flatnonzero(into >= 0)
        rows = into[matched]
        calls = np.concatenate((self.calls, other.calls[new]))
        errors = np.concatenate((self.errors, other.errors[new]))
        calls[rows] += other.calls[matched]
        errors[rows] += other.errors[matched]
        keys = self.series + tuple(other.series[j] for j in new.tolist())
        return REDBlock(
            keys,
            calls,
            errors,
            self.histograms.combine(other.histograms, into),
            _combined_within(self, other, into, new),
        )

    def top(self, count: int) -> list[int]:
        """The rows of the ``count`` most called series, most first (ties in row order)."""
        rows: list[int] = np.argsort(-self.calls, kind="stable")[:count].tolist()
        return rows

    @property
    def nbytes(self) -> int:
        """Bytes of the columns (the keys are shared with the keyer and not counted)."""
        return self.calls.nbytes + self.errors.nbytes + self.histograms.nbytes


class _Items(ItemsView[SeriesKey, RED]):
    """``items()`` of a block: rows read in order, no lookup by key."""

    def __init__(self, block: REDBlock) -> None:
        super().__init__(block)
        self._block = block

    def __iter__(self) -> Iterator[tuple[SeriesKey, RED]]:
        return self._block.rows()


class _Values(ValuesView[RED]):
    def __init__(self, block: REDBlock) -> None:
        super().__init__(block)
        self._block = block

    def __iter__(self) -> Iterator[RED]:
        return (red for _, red in self._block.rows())


def _combined_within(
    mine: REDBlock, theirs: REDBlock, into: NDArray[np.intp], new: NDArray[np.intp]
) -> tuple[Mapping[float, int], ...] | None:
    """Each row's ``within`` after :meth:`REDBlock.combine` (as ``RED.merge`` adds them)."""
    if mine.within is None and theirs.within is None:
        return None
    rows: list[Mapping[float, int]] = list(mine.within or (NO_WITHIN,) * len(mine))
    other = theirs.within or (NO_WITHIN,) * len(theirs)
    for j, row in enumerate(into.tolist()):
        if row >= 0 and other[j]:
            rows[row] = add_within(rows[row], other[j])
    rows.extend(other[j] for j in new.tolist())
    return tuple(rows)


class Rollup:
    """Merges closed intervals into windows of ``resolution_s`` (aligned to the epoch).

    A window is a :class:`REDBlock`: the first interval's block as it is (blocks are never
    changed), then each further interval merged in with :meth:`REDBlock.combine`, one
    numpy pass per interval. ``open`` may also hold a plain ``{key: RED}`` (a window
    restored from saved state); it becomes a block when the next interval merges into it.
    """

    def __init__(self, resolution_s: int) -> None:
        self.resolution_s = resolution_s
        self.resolution_ns = resolution_s * NS
        self.open: dict[int, Mapping[SeriesKey, RED]] = {}

    def add(self, interval: SeriesInterval) -> None:
        start = interval.start_ns - interval.start_ns % self.resolution_ns
        block = REDBlock.of(interval.values)
        window = self.open.get(start)
        self.open[start] = block if window is None else REDBlock.of(window).combine(block)

    def close_until(self, watermark_ns: int, source: str) -> list[SeriesInterval]:
        """Windows wholly before ``watermark_ns`` (all their base intervals closed)."""
        done = sorted(s for s in self.open if s + self.resolution_ns <= watermark_ns)
        return [
            SeriesInterval(
                s, s + self.resolution_ns, self.resolution_s, self.open.pop(s), source, rollup=True
            )
            for s in done
        ]


def merged_block(intervals: Iterable[SeriesInterval]) -> REDBlock | None:
    """Every interval's series merged into one block (None when there are none)."""
    merged: REDBlock | None = None
    for interval in intervals:
        block = REDBlock.of(interval.values)
        merged = block if merged is None else merged.combine(block)
    return merged


def merge_intervals(intervals: Iterable[SeriesInterval]) -> dict[SeriesKey, RED]:
    """One RED per key over several intervals."""
    merged = merged_block(intervals)
    return {} if merged is None else dict(merged.rows())
