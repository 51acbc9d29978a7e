"""Many histograms recorded in one numpy pass (span metrics settle a whole interval so).

:func:`record_groups` gives each histogram what its own ``record_many`` would, but maps
every value to its bucket in one call and builds each empty histogram's buckets from its
slice of the sorted indices: per histogram a few array slices, not a dozen numpy calls.
A histogram that already holds data, sits at another scale or would need a downscale is
recorded by its own ``record_many``. Sums are added in turn, as ``record_many`` adds them,
so they come out the same to the last bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from otel_perf.histogram.buckets import Buckets
from otel_perf.histogram.exponential import ExponentialHistogram
from otel_perf.histogram.mapping import Float64Array, map_to_indices

__all__ = ["record_groups"]


def record_groups(
    histograms: Sequence[ExponentialHistogram], values: Float64Array, bounds: Sequence[int]
) -> None:
    """``histograms[g].record_many(values[bounds[g]:bounds[g + 1]])`` for every ``g``.

    Raises:
        ValueError: If any value is not finite; nothing is recorded then.
    """
    if not len(values):
        return
    smallest, largest = float(values.min()), float(values.max())
    if not (math.isfinite(smallest) and math.isfinite(largest)):
        raise ValueError("cannot record non-finite values")
    starts = np.asarray(bounds[:-1], np.intp)
    sizes: NDArray[np.intp] = np.diff(np.asarray(bounds, np.intp)).astype(np.intp)
    scale = histograms[0].max_scale
    if smallest <= 0:  # zeros or negatives: each histogram on its own
        _one_by_one(histograms, values, bounds, range(len(histograms)))
        return
    indices = map_to_indices(values, scale)
    ordered = _sorted_per_group(indices, sizes)
    filled = sizes > 0
    at = starts[filled]
    lows = ordered[at].tolist()
    highs = ordered[at + sizes[filled] - 1].tolist()
    sums = _sums_in_turn(values, at, sizes[filled]).tolist()
    mins = np.minimum.reduceat(values, at).tolist()
    maxs = np.maximum.reduceat(values, at).tolist()
    rest = []
    for i, g in enumerate(np.flatnonzero(filled).tolist()):
        histogram, low, high = histograms[g], lows[i], highs[i]
        if histogram.count or histogram.scale != scale or high - low >= histogram.max_size:
            rest.append(g)
            continue
        side = Buckets.from_sorted(ordered[bounds[g] : bounds[g + 1]], low, high)
        histogram._fill(side, sums[i], mins[i], maxs[i])
    _one_by_one(histograms, values, bounds, rest)


def _sorted_per_group(indices: NDArray[np.int64], sizes: NDArray[np.intp]) -> NDArray[np.int32]:
    """Each group's indices sorted, groups kept in order: one sort of int64 keys (group in
    the high 32 bits, index above the lowest in the low ones), several times faster than
    ``lexsort``; indices at any scale span far less than 2 ** 32."""
    low = int(indices.min())
    keys = np.repeat(np.arange(len(sizes), dtype=np.int64) << 32, sizes)
    keys |= indices - low
    keys.sort()
    keys &= 0xFFFFFFFF
    keys += low
    return keys.astype(np.int32)


def _one_by_one(
    histograms: Sequence[ExponentialHistogram],
    values: Float64Array,
    bounds: Sequence[int],
    groups: Sequence[int] | range,
) -> None:
    for g in groups:
        histograms[g].record_many(values[bounds[g] : bounds[g + 1]])


SHORT = 32
"""Groups up to this long are summed together, as the rows of one zero-padded matrix."""


def _sums_in_turn(
    values: Float64Array, starts: NDArray[np.intp], sizes: NDArray[np.intp]
) -> Float64Array:
    """Per group ``values[start:start + size]`` added left to right (``x + 0.0`` is
    ``x``, so the padding changes no sum; ``accumulate`` never adds pairwise)."""
    sums = np.empty(len(starts))
    short = sizes <= SHORT
    if short.any():
        lengths = sizes[short]
        rows = np.repeat(np.arange(len(lengths)), lengths)
        offsets = np.repeat(starts[short], lengths)
        firsts = np.repeat(np.cumsum(lengths) - lengths, lengths)
        columns = np.arange(len(rows)) - firsts
        grid = np.zeros((len(lengths), int(lengths.max())))
        grid[rows, columns] = values[offsets + columns]
        sums[short] = np.add.accumulate(grid, axis=1)[:, -1]
    for i in np.flatnonzero(~short).tolist():
        start = int(starts[i])
        sums[i] = np.add.accumulate(values[start : start + int(sizes[i])])[-1]
    return sums
