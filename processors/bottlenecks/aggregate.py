"""What one evaluation window learns from the traces analysed in it.

Every map here is keyed by data from the wire and bounded; what does not fit
is counted in ``overflowed``. Times are ns, latency sketches hold seconds.
"""

from __future__ import annotations

import heapq
import sys
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from otel_perf.histogram import ExponentialHistogram

NS = 1_000_000_000
OpKey = tuple[str, str]  # (service, operation)
K = TypeVar("K")
V = TypeVar("V")


class Exemplars:
    """The ``size`` trace ids with the largest weight seen (a min-heap).

    Most heaps stop changing once full of heavy offers, so :meth:`pack` folds one into a
    tuple (the weights packed as int64, then the ids): ~130 bytes where the list of
    ``(weight, id)`` pairs took ~350. :meth:`offer` unpacks it when an offer is taken.
    """

    __slots__ = ("_heap", "_packed", "size")

    def __init__(self, size: int, heap: list[tuple[int, str]] | None = None) -> None:
        self.size = size
        self._heap: list[tuple[int, str]] | None = [] if heap is None else heap
        self._packed: tuple[Any, ...] | None = None

    @property
    def heap(self) -> list[tuple[int, str]]:
        """The ``(weight, id)`` min-heap (a copy while packed: reading keeps it packed)."""
        if self._heap is not None:
            return self._heap
        packed = self._packed or (b"",)
        return list(zip(array("q", packed[0]).tolist(), packed[1:], strict=True))

    def pack(self) -> None:
        """Hold the heap compactly until it is offered to again."""
        heap = self._heap
        if heap is None:
            return
        try:
            weights = array("q", [w for w, _ in heap]).tobytes()
        except OverflowError:  # a weight past int64 (hand-made spans): left as it is
            return
        self._packed, self._heap = (weights, *(t for _, t in heap)), None

    def floor(self) -> int | None:
        """The lightest weight held once the heap is full (an offer must beat it)."""
        heap = self._heap
        if heap is not None:
            return heap[0][0] if len(heap) >= self.size else None
        packed = self._packed
        if packed is None or len(packed) - 1 < self.size:
            return None
        return int.from_bytes(packed[0][:8], sys.byteorder, signed=True)  # heap[0] first

    def offer(self, weight: int, trace_id: str) -> None:
        heap = self._heap
        if heap is None:
            heap = self._heap = self.heap
            self._packed = None
        if len(heap) < self.size:
            heapq.heappush(heap, (weight, trace_id))
        elif weight > heap[0][0]:
            heapq.heapreplace(heap, (weight, trace_id))

    def ids(self) -> list[str]:
        return [trace for _, trace in sorted(self.heap, reverse=True)]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Exemplars):
            return NotImplemented
        return self.size == other.size and self.heap == other.heap

    def __repr__(self) -> str:
        return f"Exemplars(size={self.size}, heap={self.heap!r})"


@dataclass(slots=True)
class OpStats:
    """One (service, operation) across traces: time on critical paths and self time."""

    exemplars: Exemplars
    critical_ns: int = 0
    self_ns: int = 0
    traces: int = 0


@dataclass(slots=True)
class EntryStats:
    """One entry operation (the root span's): its latency and who makes it up.

    ``shares`` holds each operation's critical-path ns within this entry and
    ``cells`` the traces where it took the most (the evidence of a bottleneck of
    this entry is its own traces, not the operation's anywhere).
    """

    exemplars: Exemplars
    traces: int = 0
    total_ns: int = 0
    latency_s: ExponentialHistogram = field(default_factory=ExponentialHistogram)
    shares: dict[OpKey, int] = field(default_factory=dict)
    cells: dict[OpKey, Exemplars] = field(default_factory=dict)


@dataclass(slots=True)
class QueryStats:
    """One query fingerprint of one service."""

    fingerprint: str
    db_system: str
    operation: str
    exemplars: Exemplars
    latency_s: ExponentialHistogram = field(default_factory=ExponentialHistogram)
    routes: dict[OpKey, int] = field(default_factory=dict)  # entry -> executions (bounded)
    call_operation: str = ""  # the operation it is counted under (``db.system fingerprint``)


@dataclass(slots=True)
class PatternStats:
    """One repeated-call pattern (kind, service, parent operation, fingerprint)."""

    exemplars: Exemplars
    call_operation: str = ""  # the repeated call's operation
    routes: dict[OpKey, int] = field(default_factory=dict)  # entry -> occurrences (bounded)
    occurrences: int = 0
    calls: int = 0
    max_calls: int = 0
    total_ns: int = 0
    saveable_ns: int = 0


@dataclass(slots=True)
class SlowStats:
    """Slow server spans of one (service, route), with the slowest one's critical path."""

    threshold_ns: int
    exemplars: Exemplars
    latency_s: ExponentialHistogram = field(default_factory=ExponentialHistogram)
    requests: int = 0
    slow: int = 0
    worst_ns: int = 0
    worst_path: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class MemoryStats:
    """Memory growth per request of one (service, route)."""

    requests: int = 0
    grew: int = 0
    total_bytes: int = 0
    max_bytes: int = 0
    growth_bytes: ExponentialHistogram = field(default_factory=ExponentialHistogram)


MAX_DEFERRED = 4096
"""Values a window holds back per histogram before recording them (``Window.defer``)."""

MAX_ENTRY_SHARES = 200
"""Contributors kept per entry operation."""

MAX_ROUTES_PER_ITEM = 20
"""Entries remembered per query or pattern (the routes that run it)."""


def count_route(routes: dict[OpKey, int], route: OpKey, n: int = 1) -> None:
    """Add ``n`` to ``routes[route]`` when it is there or there is room."""
    if route in routes or len(routes) < MAX_ROUTES_PER_ITEM:
        routes[route] = routes.get(route, 0) + n


class Bounded(dict[K, V]):
    """A dict that stops taking new keys at ``limit`` and counts what it turned away."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.overflowed = 0

    def slot(self, key: K, make: Callable[[], V]) -> V | None:
        value = self.get(key)
        if value is None:
            if len(self) >= self.limit:
                self.overflowed += 1
                return None
            value = self[key] = make()
        return value


@dataclass
class Window:
    """Aggregates of one evaluation window ``[start_ns, start_ns + length)``."""

    start_ns: int
    max_operations: int
    max_fingerprints: int
    max_routes: int
    exemplars: int
    traces: int = 0
    critical_total_ns: int = 0

    def __post_init__(self) -> None:
        self._deferred: dict[int, tuple[ExponentialHistogram, list[NDArray[np.float64]]]] = {}
        self.ops: Bounded[OpKey, OpStats] = Bounded(self.max_operations)
        self.entries: Bounded[OpKey, EntryStats] = Bounded(self.max_routes)
        self.queries: Bounded[tuple[str, str], QueryStats] = Bounded(self.max_fingerprints)
        self.patterns: Bounded[tuple[str, str, str, str], PatternStats] = Bounded(
            self.max_fingerprints
        )
        self.slow: Bounded[OpKey, SlowStats] = Bounded(self.max_routes)
        self.phases: Bounded[tuple[str, str, str], ExponentialHistogram] = Bounded(
            self.max_routes * 8
        )
        self.memory: Bounded[OpKey, MemoryStats] = Bounded(self.max_routes)

    def exemplar_set(self) -> Exemplars:
        return Exemplars(self.exemplars)

    def defer(self, histogram: ExponentialHistogram, values: NDArray[np.float64]) -> None:
        """Record ``values`` into ``histogram`` by :meth:`settle` (at most
        ``MAX_DEFERRED`` values wait per histogram): one ``record_many`` per window
        instead of one per tick, with the same buckets and sum (the order is kept)."""
        entry = self._deferred.get(id(histogram))
        if entry is None:
            entry = self._deferred[id(histogram)] = (histogram, [])
        entry[1].append(values)
        if sum(map(len, entry[1])) >= MAX_DEFERRED:
            histogram.record_many(np.concatenate(entry[1]))
            del self._deferred[id(histogram)]

    def recorded(self, histogram: ExponentialHistogram) -> ExponentialHistogram:
        """``histogram`` with what :meth:`defer` holds for it: a copy when anything is
        held, so reading it does not settle the window (the saved state's view)."""
        entry = self._deferred.get(id(histogram))
        if entry is None:
            return histogram
        copy = histogram.copy()
        copy.record_many(np.concatenate(entry[1]))
        return copy

    def pack(self) -> None:
        """Fold every exemplar heap (:meth:`Exemplars.pack`): when the window closes,
        and at each flush while it fills (a heap offered to later is unpacked)."""
        maps: tuple[Bounded[Any, Any], ...] = (self.ops, self.queries, self.patterns, self.slow)
        for bounded in maps:
            for stats in bounded.values():
                stats.exemplars.pack()
        for entry in self.entries.values():
            entry.exemplars.pack()
            for cell in entry.cells.values():
                cell.pack()

    def settle(self) -> None:
        """Record what :meth:`defer` holds; every reader of the histograms calls it first."""
        for histogram, parts in self._deferred.values():
            histogram.record_many(np.concatenate(parts))
        self._deferred.clear()

    @property
    def overflowed(self) -> int:
        maps = (
            self.ops,
            self.entries,
            self.queries,
            self.patterns,
            self.slow,
            self.phases,
            self.memory,
        )
        return sum(m.overflowed for m in maps)
