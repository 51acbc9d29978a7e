"""One side's dense bucket counts of an exponential histogram, and the downscale rule."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

import numpy as np

from otel_perf.histogram.mapping import MIN_SCALE, Int64Array, boundary_tolerance

__all__ = ["Buckets", "buckets_from", "fitting_size"]


def _scale_change(low: int, high: int, max_size: int, scale: int) -> int:
    """How many halvings make indices ``low..high`` fit ``max_size`` buckets (SDK's rule)."""
    change = 0
    while high - low >= max_size and scale - change > MIN_SCALE:
        low, high, change = low >> 1, high >> 1, change + 1
    return change


class Buckets:
    """One side's dense counts for indices ``offset .. offset + len(counts) - 1``.

    Kept compact: the array spans exactly the indices in use, so its first and last counts
    are non-zero (an empty side holds a zero-length array).
    """

    __slots__ = ("counts", "offset")

    def __init__(self, offset: int = 0, counts: Int64Array | None = None) -> None:
        self.offset = offset
        self.counts: Int64Array = np.zeros(0, np.int64) if counts is None else counts

    @property
    def end(self) -> int:
        """One past the highest index held."""
        return self.offset + self.counts.size

    def total(self) -> int:
        return int(self.counts.sum())

    def copy(self) -> Buckets:
        return Buckets(self.offset, self.counts.copy())

    def scale_change(self, low: int, high: int, max_size: int, scale: int) -> int:
        """Halvings needed to hold what is here plus indices ``low..high``."""
        if self.counts.size:
            low, high = min(low, self.offset), max(high, self.end - 1)
        return _scale_change(low, high, max_size, scale)

    def add_counts(self, low: int, counts: Int64Array) -> None:
        """Add ``counts`` for indices ``low, low + 1, ...``, growing the array to cover them."""
        if counts.size == 0:
            return
        high = low + counts.size - 1
        if self.counts.size == 0:
            self.offset, self.counts = low, counts.astype(np.int64, copy=True)
            return
        new_low, new_high = min(low, self.offset), max(high, self.end - 1)
        if new_low != self.offset or new_high != self.end - 1:
            grown = np.zeros(new_high - new_low + 1, np.int64)
            grown[self.offset - new_low : self.end - new_low] = self.counts
            self.offset, self.counts = new_low, grown
        self.counts[low - self.offset : high - self.offset + 1] += counts

    def increment(self, index: int, count: int) -> None:
        if self.offset <= index < self.end:
            self.counts[index - self.offset] += count
        else:
            self.add_counts(index, np.array([count], np.int64))

    def add_indices(self, indices: Int64Array) -> None:
        if indices.size:
            low = int(indices.min())
            self.add_counts(low, np.bincount(indices - low).astype(np.int64, copy=False))

    def downscale(self, change: int) -> None:
        """Merge each run of ``2 ** change`` neighbours: index ``i`` becomes ``i >> change``."""
        if change == 0 or self.counts.size == 0:
            return
        merged = np.arange(self.offset, self.end, dtype=np.int64) >> change
        starts = np.concatenate(([0], np.flatnonzero(np.diff(merged)) + 1))
        self.counts = np.add.reduceat(self.counts, starts).astype(np.int64, copy=False)
        self.offset = int(merged[0])

    def trimmed(self) -> Buckets:
        """The same buckets without zero counts at either end (the canonical form)."""
        used = np.flatnonzero(self.counts)
        if used.size == 0:
            return Buckets()
        return Buckets(self.offset + int(used[0]), self.counts[used[0] : used[-1] + 1].copy())

    def count_below(self, index: int) -> int:
        """The count in buckets with indices below ``index``."""
        return int(self.counts[: max(0, min(index - self.offset, self.counts.size))].sum())

    def count_at(self, index: int) -> int:
        return int(self.counts[index - self.offset]) if self.offset <= index < self.end else 0

    def count_at_or_below(self, magnitude: float, scale: int) -> float:
        """Magnitudes <= ``magnitude``: exact on a boundary, log-linear inside a bucket."""
        position = math.ldexp(math.log2(magnitude), scale)  # bucket i spans (i, i + 1]
        nearest = round(position)
        if abs(position - nearest) <= boundary_tolerance(scale):
            return float(self.count_below(nearest))
        index = math.floor(position)
        return self.count_below(index) + (position - index) * self.count_at(index)

    def sizeof(self) -> int:
        return object.__sizeof__(self) + sys.getsizeof(self.counts)

    def same(self, other: Buckets) -> bool:
        return self.offset == other.offset and np.array_equal(self.counts, other.counts)


def fitting_size(max_size: int, *sides: Buckets) -> int:
    """``max_size``, raised to hold the widest of ``sides`` unchanged."""
    return max(max_size, *(side.counts.size for side in sides))


def buckets_from(offset: int, counts: Sequence[int]) -> Buckets:
    array = np.asarray(counts, dtype=np.int64).reshape(-1)
    if array.size and int(array.min()) < 0:
        raise ValueError("bucket counts must not be negative")
    return Buckets(int(offset), array).trimmed()
