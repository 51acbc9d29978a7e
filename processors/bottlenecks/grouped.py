"""Grouped updates of a window's bounded maps, equal to one update per row in order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from otel_perf.processors.bottlenecks.aggregate import Bounded, Exemplars, OpKey

I64 = NDArray[np.int64]
V = TypeVar("V")
LOWEST = -(2**63)  # below every int64 weight


DENSE = 8
"""Ids up to this many times the rows are grouped through a table, not by sorting."""


def first_order(ids: I64) -> tuple[list[int], list[int]]:
    """The distinct ids (>= 0) in order of first appearance, with how often each appears."""
    n = len(ids)
    if not n:
        return [], []
    size = int(ids.max()) + 1
    if size > DENSE * n + 1024:
        unique, first, counts = np.unique(ids, return_index=True, return_counts=True)
        order = np.argsort(first, kind="stable")
        return unique[order].tolist(), counts[order].tolist()
    first_of = np.empty(size, np.int64)
    rows = np.arange(n, dtype=np.int64)
    first_of[ids[::-1]] = rows[::-1]  # the last assignment, the earliest row, stays
    found = ids[first_of[ids] == rows]
    return found.tolist(), np.bincount(ids, minlength=size)[found].tolist()


def admit(
    bounded: Bounded[OpKey, V], names: list[OpKey], ids: I64, make: Callable[[OpKey], V]
) -> dict[int, V]:
    """The slots ``bounded.slot`` gives when called for each id in turn: new keys are
    taken in order of first appearance while there is room, and every call for a key
    turned away is counted in ``overflowed``, as ``slot`` counts it. ``make(key)``
    makes the value of a new key."""
    got: dict[int, V] = {}
    ordered, counts = first_order(ids)
    for kid, count in zip(ordered, counts, strict=True):
        key = names[kid]
        value = bounded.slot(key, lambda: make(key))  # noqa: B023 - called at once
        if value is None:
            bounded.overflowed += count - 1
        else:
            got[kid] = value
    return got


def groups(ids: I64, wanted: dict[int, Any]) -> dict[int, I64]:
    """The rows of each wanted id, in order."""
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    bounds = np.flatnonzero(np.diff(sorted_ids)) + 1
    out: dict[int, I64] = {}
    for rows in np.split(order, bounds):
        if rows.size and int(ids[rows[0]]) in wanted:
            out[int(ids[rows[0]])] = rows
    return out


def sums(ids: I64, values: I64) -> dict[int, int]:
    """Sum of ``values`` per id (exact int64 sums)."""
    if not len(ids):
        return {}
    size = int(ids.max()) + 1
    if size > DENSE * len(ids) + 1024:
        unique, inverse = np.unique(ids, return_inverse=True)
        totals = np.zeros(len(unique), np.int64)
        np.add.at(totals, inverse, values)
        return dict(zip(unique.tolist(), totals.tolist(), strict=True))
    totals = np.zeros(size, np.int64)
    np.add.at(totals, ids, values)
    present = np.flatnonzero(np.bincount(ids, minlength=size))
    return dict(zip(present.tolist(), totals[present].tolist(), strict=True))


def offer(
    heaps: dict[int, Exemplars],
    groups: I64,
    weights: I64,
    size: int,
    traces: I64,
    label: Callable[[int], str],
) -> None:
    """``heaps[group].offer(weight, label(trace))`` for every row in order, leaving out
    the offers that cannot change a heap (see :func:`top`); groups without a heap are
    skipped. ``traces`` holds each row's trace, ``label`` names a trace (asked only for
    offers a heap takes)."""
    floors = {g: f for g, h in heaps.items() if (f := h.floor()) is not None}
    rows = top(groups, weights, size, floors)
    if not rows:
        return
    get = heaps.get
    for g, w, t in zip(
        groups[rows].tolist(), weights[rows].tolist(), traces[rows].tolist(), strict=True
    ):
        heap = get(g)
        if heap is not None:
            floor = heap.floor()
            if floor is None or w > floor:
                heap.offer(w, label(t))


def top(groups: I64, weights: I64, k: int, floors: dict[int, int] | None = None) -> list[int]:
    """The rows worth offering to each group's ``k``-exemplar heap, in order.

    An :class:`~otel_perf.processors.bottlenecks.aggregate.Exemplars` heap ends up
    holding only offers at least as heavy as the ``k``-th heaviest of them, and the
    offers below that never change which of those it keeps (each replaces the lightest
    member, which is one of them, before any heavier offer could be turned away).
    A heap already full turns away every offer not heavier than its lightest member
    (``floors``: group -> that weight), now and later (that weight only grows).
    """
    if not len(groups):
        return []
    candidates = None
    if floors:  # turned away by a full heap now: left out before sorting (same bar, see above)
        size = max(int(groups.max()), max(floors)) + 1
        floor = np.full(size, LOWEST, np.int64)
        floor[list(floors)] = list(floors.values())
        candidates = np.flatnonzero(weights > floor[groups])
        groups, weights = groups[candidates], weights[candidates]
        if not len(groups):
            return []
    order = _by_group_heaviest_first(groups, weights)
    g, w = groups[order], weights[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    sizes = np.diff(np.r_[starts, len(g)])
    bar = w[starts + np.minimum(k, sizes) - 1]
    kept = np.sort(order[w >= np.repeat(bar, sizes)])
    rows: list[int] = (kept if candidates is None else candidates[kept]).tolist()
    return rows


def _by_group_heaviest_first(groups: I64, weights: I64) -> I64:
    """Rows ordered by group, then by weight from the heaviest (ties in any order).

    Group and weight fit one int64 key in practice (ids well below 2^20, durations
    below 2^40 ns), and one sort of that key is several times faster than a lexsort;
    when they do not fit, the lexsort.
    """
    low, high = int(weights.min()), int(weights.max())
    bits = (high - low).bit_length()
    if int(groups.min()) >= 0 and int(groups.max()).bit_length() + bits <= 62:
        key = (groups << bits) | (high - weights)
        found: I64 = np.argsort(key)
        return found
    found = np.lexsort((-weights, groups))
    return found
