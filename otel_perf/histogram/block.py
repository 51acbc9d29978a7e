"""Many exponential histograms as columns: what closed span-metrics intervals hold.

A :class:`HistogramBlock` keeps one row per histogram in struct-of-arrays form (scale,
counts, sum, min, max) and every row's non-empty buckets as sparse (index, count) pairs
in one array per side, the counts in the narrowest dtype that holds them. A histogram of
a handful of values spread over a few hundred buckets costs a few bytes a value here,
not two Python objects and an array each.

:meth:`HistogramBlock.histogram` reads a row back as an :class:`ExponentialHistogram`
equal to the one stored; :meth:`HistogramBlock.combine` merges rows of two blocks in
one numpy pass, exactly as :meth:`ExponentialHistogram.merge` would row by row (the same
scales, downscales, buckets, and sums added in the same order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from otel_perf.histogram.buckets import Buckets, count_dtype
from otel_perf.histogram.exponential import ExponentialHistogram
from otel_perf.histogram.mapping import MIN_SCALE

__all__ = ["HistogramBlock", "SparseSides"]

I32 = NDArray[np.int32]
I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
Rows = NDArray[np.intp]


@dataclass(frozen=True, slots=True, eq=False)
class SparseSides:
    """One side (positive or negative) of every row: row ``r``'s buckets are
    ``index[starts[r]:starts[r + 1]]`` (ascending) with ``counts`` alike (all > 0)."""

    starts: I64
    index: I32
    counts: NDArray[np.integer[Any]]

    @classmethod
    def of_entries(cls, rows: I64, index: I64, counts: I64, n: int) -> SparseSides:
        """Entries in any order, repeats of a (row, index) summed, zero counts dropped."""
        keep = counts > 0
        rows, index, counts = rows[keep], index[keep], counts[keep]
        if rows.size:
            # one int64 key per entry: the row above, the index (from the lowest) below
            low = int(index.min())
            key = (rows << 32) | (index - low)
            if not (key[1:] >= key[:-1]).all():  # already in order when built row by row
                order = np.argsort(key, kind="stable")
                key, counts = key[order], counts[order]
            new = np.empty(key.size, bool)
            new[0] = True
            np.not_equal(key[1:], key[:-1], out=new[1:])
            at = np.flatnonzero(new)
            key = key[at]
            counts = np.add.reduceat(counts, at)
            rows, index = key >> 32, (key & 0xFFFFFFFF) + low
        starts = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=starts[1:])
        top = int(counts.max()) if counts.size else 0
        return cls(starts, index.astype(np.int32), counts.astype(count_dtype(top)))

    def entries(self, rows: Rows) -> tuple[I64, I64, I64]:
        """(position among ``rows``, index, count) of the buckets of ``rows``."""
        starts, ends = self.starts[rows], self.starts[rows + 1]
        sizes = ends - starts
        owner = np.repeat(np.arange(len(rows), dtype=np.int64), sizes)
        first = np.repeat(starts - (np.cumsum(sizes) - sizes), sizes)
        at = first + np.arange(owner.size, dtype=np.int64)
        return owner, self.index[at].astype(np.int64), self.counts[at].astype(np.int64)

    def ends(self, rows: Rows) -> tuple[I64, I64, NDArray[np.bool_]]:
        """Per row of ``rows``: lowest and highest index held, and whether it holds any."""
        starts, ends = self.starts[rows], self.starts[rows + 1]
        filled = ends > starts
        low = np.zeros(len(rows), np.int64)
        high = np.zeros(len(rows), np.int64)
        low[filled] = self.index[starts[filled]]
        high[filled] = self.index[ends[filled] - 1]
        return low, high, filled

    def buckets(self, row: int) -> Buckets | None:
        start, end = int(self.starts[row]), int(self.starts[row + 1])
        if start == end:
            return None
        return Buckets.from_sparse(self.index[start:end], self.counts[start:end])

    @property
    def nbytes(self) -> int:
        return self.starts.nbytes + self.index.nbytes + self.counts.nbytes


@dataclass(frozen=True, slots=True, eq=False)
class HistogramBlock:
    """Exponential histograms, one per row, as columns (see the module docstring).

    ``min``/``max`` of an empty row are +inf/-inf, as the histogram holds them.
    """

    scale: NDArray[np.int8]
    max_scale: NDArray[np.int8]
    max_size: I32
    zero_count: I64
    count: I64
    sum: F64
    min: F64
    max: F64
    positive: SparseSides
    negative: SparseSides

    def __len__(self) -> int:
        return len(self.count)

    @classmethod
    def of(cls, histograms: Sequence[ExponentialHistogram]) -> HistogramBlock:
        """The histograms' data, row after row (each left unchanged)."""
        n = len(histograms)
        parts = [h._parts() for h in histograms]
        columns = list(zip(*parts, strict=True)) if parts else [()] * 10
        positive = _sides_of(columns[8], n)
        negative = _sides_of(columns[9], n)
        return cls(
            np.array(columns[0], np.int8),
            np.array(columns[1], np.int8),
            np.array(columns[2], np.int32),
            np.array(columns[3], np.int64),
            np.array(columns[4], np.int64),
            np.array(columns[5], np.float64),
            np.array(columns[6], np.float64),
            np.array(columns[7], np.float64),
            positive,
            negative,
        )

    def histogram(self, row: int) -> ExponentialHistogram:
        """Row ``row`` as a histogram of its own (equal to the one stored)."""
        return ExponentialHistogram._assemble(
            int(self.max_size[row]),
            int(self.max_scale[row]),
            int(self.scale[row]),
            int(self.zero_count[row]),
            int(self.count[row]),
            float(self.sum[row]),
            float(self.min[row]),
            float(self.max[row]),
            self.positive.buckets(row),
            self.negative.buckets(row),
        )

    def take(self, rows: Rows) -> HistogramBlock:
        """A block of ``rows`` only, in that order."""
        n = len(rows)
        sides = []
        for side in (self.positive, self.negative):
            owner, index, counts = side.entries(rows)
            sides.append(SparseSides.of_entries(owner, index, counts, n))
        return HistogramBlock(
            self.scale[rows],
            self.max_scale[rows],
            self.max_size[rows],
            self.zero_count[rows],
            self.count[rows],
            self.sum[rows],
            self.min[rows],
            self.max[rows],
            sides[0],
            sides[1],
        )

    def combine(self, other: HistogramBlock, into: Rows) -> HistogramBlock:
        """This block with ``other`` merged in: ``other``'s row ``j`` merges into row
        ``into[j]`` (no row twice), or is appended when ``into[j]`` is -1 (in order).

        Row by row as ``ExponentialHistogram.merge`` (``self``'s ``max_size`` bounds the
        merged range, an empty row of ``other`` changes nothing); neither block changes.
        """
        n = len(self)
        new = np.flatnonzero(into < 0)
        target = into.astype(np.int64)
        target[new] = n + np.arange(len(new))
        live = np.flatnonzero((into >= 0) & (other.count > 0))
        mine = into[live].astype(np.intp)

        def joined(a: NDArray[Any], b: NDArray[Any]) -> NDArray[Any]:
            return np.concatenate((a, b[new]))

        scale = joined(self.scale, other.scale)
        zero_count, count = (
            joined(self.zero_count, other.zero_count),
            joined(self.count, other.count),
        )
        high = joined(self.max, other.max)
        total = joined(self.sum, other.sum)
        low = joined(self.min, other.min)
        if live.size:
            scale[mine] = _merged_scale(self, mine, other, live)
            zero_count[mine] += other.zero_count[live]
            count[mine] += other.count[live]
            total[mine] = self.sum[mine] + other.sum[live]
            low[mine] = np.minimum(self.min[mine], other.min[live])
            high[mine] = np.maximum(self.max[mine], other.max[live])
        taken = np.concatenate((live, new)).astype(np.intp)
        sides = [
            _joined_sides(a, self.scale, b, other.scale, taken, target[taken], scale)
            for a, b in ((self.positive, other.positive), (self.negative, other.negative))
        ]
        return HistogramBlock(
            scale,
            joined(self.max_scale, other.max_scale),
            joined(self.max_size, other.max_size),
            zero_count,
            count,
            total,
            low,
            high,
            sides[0],
            sides[1],
        )

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays held."""
        rows = sum(
            a.nbytes
            for a in (
                self.scale,
                self.max_scale,
                self.max_size,
                self.zero_count,
                self.count,
                self.sum,
                self.min,
                self.max,
            )
        )
        return rows + self.positive.nbytes + self.negative.nbytes


def _sides_of(sides: Sequence[Buckets | None], n: int) -> SparseSides:
    """One side of every row from the histograms' own buckets: a sparse side's sorted
    indices as they are (all of them read as one buffer: most sides are sparse), a dense
    side's non-empty buckets."""
    raw_rows: list[int] = []
    raw: list[bytes] = []
    rows: list[int] = []
    indices: list[NDArray[np.integer[Any]]] = []
    counts: list[NDArray[np.integer[Any]]] = []
    for row, side in enumerate(sides):
        if side is None:
            continue
        if side._raw is not None:
            raw_rows.append(row)
            raw.append(side._raw)
        elif side._counts is not None:  # its non-empty buckets only: often a few in many
            used = np.flatnonzero(side._counts)
            rows.append(row)
            indices.append(used + side.offset)
            counts.append(side._counts[used])
    raw_index = np.frombuffer(b"".join(raw), np.int32)
    raw_sizes = np.fromiter(map(len, raw), np.int64, len(raw)) // 4
    sizes = [index.size for index in indices]
    # raw rows first, then dense ones: of_entries puts them back in row order
    return SparseSides.of_entries(
        np.concatenate(
            (
                np.repeat(np.array(raw_rows, np.int64), raw_sizes),
                np.repeat(np.array(rows, np.int64), sizes),
            )
        ),
        np.concatenate((raw_index, *indices)).astype(np.int64),
        np.concatenate((np.ones(raw_index.size, np.int64), *counts)).astype(np.int64),
        n,
    )


def _merged_scale(mine: HistogramBlock, rows: Rows, theirs: HistogramBlock, live: Rows) -> I64:
    """The scale each merged row ends at: the smaller of the two, lowered further while
    either side's combined range spans ``max_size`` buckets or more (the SDK's rule)."""
    s0 = np.minimum(mine.scale[rows], theirs.scale[live]).astype(np.int64)
    my_shift = mine.scale[rows].astype(np.int64) - s0
    their_shift = theirs.scale[live].astype(np.int64) - s0
    size = mine.max_size[rows].astype(np.int64)
    change = np.zeros(len(rows), np.int64)
    for a, b in ((mine.positive, theirs.positive), (mine.negative, theirs.negative)):
        a_low, a_high, a_any = a.ends(rows)
        b_low, b_high, b_any = b.ends(live)
        b_low, b_high = b_low >> their_shift, b_high >> their_shift
        low = np.where(a_any, np.minimum(a_low >> my_shift, b_low), b_low)
        high = np.where(a_any, np.maximum(a_high >> my_shift, b_high), b_high)
        halvings = np.zeros(len(rows), np.int64)
        while True:
            need = b_any & (high - low >= size) & (s0 - halvings > MIN_SCALE)
            if not need.any():
                break
            low, high = np.where(need, low >> 1, low), np.where(need, high >> 1, high)
            halvings += need
        change = np.maximum(change, halvings)
    return s0 - change


def _joined_sides(
    a: SparseSides,
    a_scale: NDArray[np.int8],
    b: SparseSides,
    b_scale: NDArray[np.int8],
    b_rows: Rows,
    b_target: I64,
    scale: NDArray[np.int8],
) -> SparseSides:
    """``a``'s rows, with ``b``'s ``b_rows`` added into rows ``b_target``, every index
    brought to the row's final ``scale``."""
    n = len(scale)
    a_rows = np.arange(len(a_scale), dtype=np.intp)
    a_owner, a_index, a_counts = a.entries(a_rows)
    a_index >>= a_scale.astype(np.int64)[a_owner] - scale.astype(np.int64)[a_owner]
    b_owner, b_index, b_counts = b.entries(b_rows)
    rows = b_target[b_owner]
    b_index >>= b_scale.astype(np.int64)[b_rows[b_owner]] - scale.astype(np.int64)[rows]
    return SparseSides.of_entries(
        np.concatenate((a_owner, rows)),
        np.concatenate((a_index, b_index)),
        np.concatenate((a_counts, b_counts)),
        n,
    )
