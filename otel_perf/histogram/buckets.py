"""One side's bucket counts of an exponential histogram, and the downscale rule.

Memory matters here: a span-metrics pipeline keeps one histogram per series per interval, most
of them holding a handful of values spread over a few hundred buckets. So a side is only
allocated once a value lands on it (the histogram holds None until then); while it holds a
few values spread wide it keeps just their sorted indices; once dense, its counts use
the narrowest unsigned dtype that can hold the side's total (``uint8`` up to 255 values, then
``uint16``, ``uint32`` and ``int64``), widened as the total grows. No bucket can exceed the
side's total, so the counts never overflow and no per-bucket check is needed.
"""

from __future__ import annotations

import math
import sys
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from otel_perf.histogram.mapping import MIN_SCALE, Int64Array, boundary_tolerance

__all__ = [
    "Buckets",
    "CountArray",
    "buckets_from",
    "count_dtype",
    "fitting_size",
    "scale_change",
    "with_counts",
    "with_indices",
]

CountArray = npt.NDArray[np.integer[Any]]
RawArray = npt.NDArray[np.int32]

#: the most values a side keeps as their sorted bucket indices before turning dense
RAW_LIMIT = 64
_RAW = np.dtype(np.int32)

_UINT8 = np.dtype(np.uint8)
_UINT16 = np.dtype(np.uint16)
_UINT32 = np.dtype(np.uint32)
_INT64 = np.dtype(np.int64)
_MAX_COUNT = {
    dtype.itemsize: int(np.iinfo(dtype).max) for dtype in (_UINT8, _UINT16, _UINT32, _INT64)
}


def count_dtype(total: int) -> np.dtype[Any]:
    """The narrowest dtype holding every count of a side whose counts sum to ``total``."""
    if total < 0x100:
        return _UINT8
    if total < 0x10000:
        return _UINT16
    if total < 0x100000000:
        return _UINT32
    return _INT64


def _scale_change(low: int, high: int, max_size: int, scale: int) -> int:
    """How many halvings make indices ``low..high`` fit ``max_size`` buckets (SDK's rule)."""
    change = 0
    while high - low >= max_size and scale - change > MIN_SCALE:
        low, high, change = low >> 1, high >> 1, change + 1
    return change


class Buckets:
    """One side's counts for indices ``offset .. end - 1``, sparse while they are few.

    Up to :data:`RAW_LIMIT` values whose indices spread wider than their count the side
    keeps each value's index, sorted, as int32 in a ``bytes`` (every index at every scale
    fits; no array header to pay for, and copies share it). Past that it turns dense; a
    merge or ``record_many`` that leaves a side with few values over a wide span makes it
    sparse, while ``record`` (one value at a time) keeps a dense side dense. Dense,
    ``counts`` spans exactly the indices in use, so its first and last counts are
    non-zero, and its dtype is at least ``count_dtype(total)`` wide. Either way ``total``
    is the number of values, and every read (``counts``, quantiles, export, equality)
    sees the same dense counts.
    """

    __slots__ = ("_counts", "_raw", "offset", "total")

    def __init__(self, offset: int, counts: CountArray, total: int) -> None:
        self.offset = offset
        self._counts: CountArray | None = counts
        self._raw: bytes | None = None  # the sorted int32 indices, while sparse
        self.total = total

    @classmethod
    def _of_raw(cls, raw: RawArray) -> Buckets:
        side = cls.__new__(cls)
        side._counts, side._raw = None, raw.tobytes()
        side.offset, side.total = int(raw[0]), raw.size
        return side

    @classmethod
    def from_indices(cls, indices: Int64Array) -> Buckets:
        """One count per entry of a non-empty ``indices`` array."""
        low, high = int(indices.min()), int(indices.max())
        if _stays_raw(indices.size, high - low + 1):
            raw = indices.astype(_RAW)
            raw.sort()
            return cls._of_raw(raw)
        counts = np.bincount(indices - low).astype(count_dtype(indices.size), copy=False)
        return cls(low, counts, indices.size)

    @classmethod
    def from_sorted(cls, indices: RawArray, low: int, high: int) -> Buckets:
        """:meth:`from_indices` for indices already sorted (int32), ``low`` to ``high``."""
        if _stays_raw(indices.size, high - low + 1):
            return cls._of_raw(indices)
        counts = np.bincount(indices - low).astype(count_dtype(indices.size), copy=False)
        return cls(low, counts, indices.size)

    @classmethod
    def from_sparse(cls, index: RawArray, counts: CountArray) -> Buckets:
        """The counts ``counts`` (all > 0) at the ascending indices ``index`` (non-empty)."""
        total = int(counts.sum())
        low, high = int(index[0]), int(index[-1])
        if _stays_raw(total, high - low + 1):
            return cls._of_raw(np.repeat(index.astype(_RAW), counts))
        dense = np.zeros(high - low + 1, count_dtype(total))
        dense[index - low] = counts
        return cls(low, dense, total)

    @property
    def counts(self) -> CountArray:
        """The dense counts for ``offset .. end - 1`` (built afresh while sparse: read only)."""
        if self._counts is not None:
            return self._counts
        return _bincount(self._raw_values(), self.offset, self.total)

    def _values(self) -> RawArray:
        """Every value's index, sorted (spelled out from the counts when dense)."""
        if self._counts is None:
            return self._raw_values()
        return _expanded(self.offset, self._counts)

    def _raw_values(self) -> RawArray:
        raw = self._raw
        assert raw is not None
        return np.frombuffer(raw, _RAW)  # read only: every change makes a new array

    @property
    def end(self) -> int:
        """One past the highest index held."""
        if self._counts is not None:
            return self.offset + self._counts.size
        return _ints(self._raw)[-1] + 1

    @property
    def size(self) -> int:
        """How many buckets the side spans."""
        return self.end - self.offset

    def copy(self) -> Buckets:
        if self._counts is None:  # the bytes are immutable: shared
            twin = Buckets.__new__(Buckets)
            twin._counts, twin._raw, twin.offset, twin.total = (
                None,
                self._raw,
                self.offset,
                self.total,
            )
            return twin
        return Buckets(self.offset, self._counts.copy(), self.total)

    def scale_change(self, low: int, high: int, max_size: int, scale: int) -> int:
        """Halvings needed to hold what is here plus indices ``low..high``."""
        return _scale_change(min(low, self.offset), max(high, self.end - 1), max_size, scale)

    def _densify(self) -> CountArray:
        if self._counts is None:
            self._counts, self._raw = self.counts, None
        return self._counts

    def _set_raw(self, raw: RawArray) -> None:
        """Take ``raw`` (sorted) as the values; dense if they do not stay sparse."""
        self._counts, self._raw, self.offset, self.total = (
            None,
            raw.tobytes(),
            int(raw[0]),
            raw.size,
        )
        if not _stays_raw(raw.size, int(raw[-1]) - self.offset + 1):
            self._densify()

    def add(self, other: Buckets) -> None:
        """Add ``other``'s counts (left unchanged)."""
        if other._counts is None:
            self.add_indices(other._raw_values())
        else:
            self.add_counts(other.offset, other._counts, other.total)

    def add_counts(self, low: int, counts: CountArray, added: int) -> None:
        """Add ``counts`` (summing to ``added``) for indices ``low, low + 1, ...``.

        The array grows to cover them and widens if the new total needs a wider dtype.
        """
        if counts.size == 0:
            return
        if self.total + added <= RAW_LIMIT:
            self._set_raw(np.sort(np.concatenate((self._values(), _expanded(low, counts)))))
            return
        mine = self._densify()
        self.total += added
        dtype = count_dtype(self.total)
        high = low + counts.size - 1
        offset, end = self.offset, self.end
        if low < offset or high >= end or dtype.itemsize > mine.itemsize:
            new_low, new_high = min(low, offset), max(high, end - 1)
            if dtype.itemsize < mine.itemsize:
                dtype = mine.dtype
            grown = np.zeros(new_high - new_low + 1, dtype)
            grown[offset - new_low : end - new_low] = mine
            self.offset, self._counts = new_low, grown
        target = self._densify()[low - self.offset : high - self.offset + 1]
        # Every sum is at most ``total``, which the dtype holds: the cast cannot wrap.
        np.add(target, counts, out=target, casting="unsafe")

    def increment(self, index: int, count: int) -> None:
        counts, total = self._counts, self.total + count
        if counts is not None:
            at = index - self.offset
            if 0 <= at < counts.size and total <= _MAX_COUNT[counts.itemsize]:
                counts[at] += count  # the common case: a bucket already spanned
                self.total = total
                return
        if counts is None and total <= RAW_LIMIT:
            raw = self._raw_values()
            at = int(np.searchsorted(raw, index))
            self._set_raw(np.insert(raw, at, np.full(count, index, _RAW)))
            return
        self.add_counts(index, np.array([count], np.int64), count)

    def add_indices(self, indices: Int64Array | RawArray) -> None:
        if indices.size == 0:
            return
        if self.total + indices.size <= RAW_LIMIT:
            joined = np.concatenate((self._values(), indices.astype(_RAW, copy=False)))
            joined.sort()
            self._set_raw(joined)
            return
        low = int(indices.min())
        self.add_counts(low, np.bincount(indices - low), indices.size)

    def downscale(self, change: int) -> None:
        """Merge each run of ``2 ** change`` neighbours: index ``i`` becomes ``i >> change``."""
        if change:
            if self._counts is None:
                raw = self._raw_values() >> change
                self._raw, self.offset = raw.tobytes(), int(raw[0])
            else:
                self.offset, self._counts = _downscaled(self.offset, self._counts, change)

    def downscaled(self, change: int) -> Buckets:
        """:meth:`downscale` without changing this side: ``self`` itself when ``change`` is 0."""
        if change == 0:
            return self
        if self._counts is None:
            return Buckets._of_raw(self._raw_values() >> change)
        return Buckets(*_downscaled(self.offset, self._counts, change), self.total)

    def count_below(self, index: int) -> int:
        """The count in buckets with indices below ``index``."""
        if self._counts is None:
            return bisect_left(_ints(self._raw), index)
        return int(self._counts[: max(0, min(index - self.offset, self._counts.size))].sum())

    def count_at(self, index: int) -> int:
        if self._counts is None:
            raw = _ints(self._raw)
            return bisect_right(raw, index) - bisect_left(raw, index)
        return int(self._counts[index - self.offset]) if self.offset <= index < self.end else 0

    def count_at_or_below(self, magnitude: float, scale: int) -> float:
        """Magnitudes <= ``magnitude``: exact on a boundary, log-linear inside a bucket."""
        position = math.ldexp(math.log2(magnitude), scale)  # bucket i spans (i, i + 1]
        nearest = round(position)
        if abs(position - nearest) <= boundary_tolerance(scale):
            return float(self.count_below(nearest))
        index = math.floor(position)
        return self.count_below(index) + (position - index) * self.count_at(index)

    def counts_at_or_below(self, magnitudes: tuple[float, ...], scale: int) -> list[float]:
        """:meth:`count_at_or_below` of each positive finite magnitude (the same figures;
        anything else reads 0), the running totals of the counts taken once."""
        indices, parts = _positions(magnitudes, scale)
        if self._counts is None:
            raw = _ints(self._raw)
            below = [bisect_left(raw, i) for i in indices.tolist()]
            through = [bisect_right(raw, i) for i in indices.tolist()]
        else:
            size = self._counts.size
            running = np.zeros(size + 1, np.int64)
            np.cumsum(self._counts, out=running[1:])
            at = np.clip(indices - self.offset, 0, size)
            below = running[at].tolist()
            through = running[np.minimum(at + (indices >= self.offset), size)].tolist()
        return [
            float(low) if part is None else low + part * (high - low)
            for part, low, high in zip(parts, below, through, strict=True)
        ]

    def cumulative(self, reverse: bool = False) -> Int64Array:
        """Running totals of the counts (from the highest index down if ``reverse``)."""
        counts = self.counts
        return np.cumsum(counts[::-1] if reverse else counts, dtype=np.int64)

    def sizeof(self) -> int:
        held = self._raw if self._counts is None else self._counts
        return object.__sizeof__(self) + sys.getsizeof(held)

    def same(self, other: Buckets) -> bool:
        return self.offset == other.offset and np.array_equal(self.counts, other.counts)


@lru_cache(maxsize=256)
def _positions(
    magnitudes: tuple[float, ...], scale: int
) -> tuple[Int64Array, tuple[float | None, ...]]:
    """Per magnitude, as :meth:`Buckets.count_at_or_below` reads it: the nearest boundary's
    index and None when it lies on one (within float error), else its bucket's index and
    how far into the bucket it lies; (0, None) for one that is not positive and finite.
    An exporter's bounds repeat at every interval: computed once per scale."""
    tolerance = boundary_tolerance(scale)
    indices: list[int] = []
    parts: list[float | None] = []
    for magnitude in magnitudes:
        index, part = 0, None
        if 0 < magnitude < math.inf:
            position = math.ldexp(math.log2(magnitude), scale)  # bucket i spans (i, i + 1]
            index = round(position)
            if abs(position - index) > tolerance:
                index = math.floor(position)
                part = position - index
        indices.append(index)
        parts.append(part)
    return np.array(indices, np.int64), tuple(parts)


def _ints(raw: bytes | None) -> memoryview:
    """The sparse indices as a sequence of ints (no numpy call: reads are a few µs cheaper)."""
    assert raw is not None
    return memoryview(raw).cast("i")


def _stays_raw(values: int, span: int) -> bool:
    """Whether ``values`` values over ``span`` buckets are kept as sorted indices."""
    return values <= RAW_LIMIT and values * _RAW.itemsize < span


def _expanded(low: int, counts: CountArray) -> RawArray:
    """The sorted indices of ``counts`` for indices ``low, low + 1, ...``."""
    return np.repeat(np.arange(low, low + counts.size, dtype=_RAW), counts)


def _bincount(raw: RawArray, offset: int, total: int) -> CountArray:
    return np.bincount(raw - offset).astype(count_dtype(total), copy=False)


def _downscaled(offset: int, counts: CountArray, change: int) -> tuple[int, CountArray]:
    merged = np.arange(offset, offset + counts.size, dtype=np.int64) >> change
    starts = np.concatenate(([0], np.flatnonzero(np.diff(merged)) + 1))
    # A merged count is at most the side's total, so the dtype still holds it.
    return int(merged[0]), np.add.reduceat(counts, starts, dtype=counts.dtype)


def scale_change(side: Buckets | None, low: int, high: int, max_size: int, scale: int) -> int:
    """Halvings needed for ``side`` (None when empty) to also hold indices ``low..high``."""
    if side is None:
        return _scale_change(low, high, max_size, scale)
    return side.scale_change(low, high, max_size, scale)


def with_indices(side: Buckets | None, indices: Int64Array) -> Buckets | None:
    """``side`` with one more count per entry of ``indices`` (allocated if it was None)."""
    if indices.size == 0:
        return side
    if side is None:
        return Buckets.from_indices(indices)
    side.add_indices(indices)
    return side


def with_counts(side: Buckets | None, theirs: Buckets | None, owned: bool) -> Buckets | None:
    """``side`` with ``theirs`` added; ``theirs`` is taken over if ``owned``, else copied."""
    if theirs is None:
        return side
    if side is None:
        return theirs if owned else theirs.copy()
    side.add(theirs)
    return side


def fitting_size(max_size: int, *sides: Buckets | None) -> int:
    """``max_size``, raised to hold the widest of ``sides`` unchanged."""
    return max([max_size, *(side.size for side in sides if side is not None)])


def buckets_from(offset: int, counts: Sequence[int]) -> Buckets | None:
    """Buckets for OTLP counts, without zeros at either end (None if all counts are 0)."""
    array = np.asarray(counts, dtype=np.int64).reshape(-1)
    if array.size and int(array.min()) < 0:
        raise ValueError("bucket counts must not be negative")
    used = np.flatnonzero(array)
    if used.size == 0:
        return None
    first, last = int(used[0]), int(used[-1])
    total = int(array.sum())
    return Buckets(int(offset) + first, array[first : last + 1].astype(count_dtype(total)), total)
