"""The spans of many complete traces as columns, and what each trace gives its window.

:class:`TraceColumns` holds the spans of the traces a tick completes as numpy columns
(times, kinds, ids as integers, the parent's row) and marks the traces whose tree
(``tracetree.build_tree``) would *change* what it was given: a span id of an unusual
length or seen twice in the trace, a framework-internal span to fold, a child on another
resource lying outside its parent (clock skew the tree corrects), a parent cycle. For
every other trace the tree's windows are the spans' own, and ``_tree.analyse`` (C) gives
each span's self time and critical-path time from the columns.

:class:`Contributions` turns that into rows in trace order: per span (key, self ns), per
operation on the critical path (key, ns, in path order) and per trace (the entry's key,
its duration); the irregular traces' rows come from their Python tree, the specification.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from otel_perf.model import SpanRecord
from otel_perf.processors.bottlenecks.aggregate import OpKey
from otel_perf.processors.bottlenecks.completed import Completed
from otel_perf.processors.bottlenecks.critical_path import path_shares, self_times
from otel_perf.processors.bottlenecks.held import BUILT, HAS_PARENT, IRREGULAR
from otel_perf.processors.bottlenecks.tracetree import TraceTree, build_tree

try:
    from otel_perf.processors.bottlenecks import _tree  # type: ignore[attr-defined]
except ImportError:  # built without a C compiler: every trace takes the Python tree
    _tree = None

__all__ = ["BUILT", "I64", "Contributions", "TraceColumns"]

I64 = NDArray[np.int64]


class TraceColumns:
    """The spans of many traces as columns; row ``i`` is ``spans[i]``.

    ``end`` is the span's end, not before its start (a reversed span has no length);
    ``raw_end`` the end it came with.
    """

    def __init__(self, traces: Completed | Sequence[list[SpanRecord]]) -> None:
        got = traces if isinstance(traces, Completed) else Completed.from_traces(traces)
        self.completed = got
        self.spans = got.spans
        self.offsets = got.offsets
        count = len(got)
        self.trace = np.repeat(np.arange(count, dtype=np.int64), np.diff(got.offsets))
        self.start, self.raw_end, self.kind = got.start, got.end, got.kind
        self.resource, self.sid, self.pid = got.resource, got.sid, got.pid
        self.flags = got.flags
        self.end = np.maximum(got.end, got.start)  # ends before its start: zero-length
        self.has_parent = (got.flags & np.uint8(HAS_PARENT)) != 0
        # the tree changes what it is given in these traces: they take the Python path
        self.irregular = np.zeros(count, bool)
        self.irregular[self.trace[(got.flags & np.uint8(IRREGULAR)) != 0]] = True
        self.parent = self._parents()
        self._mark_skew()

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def _parents(self) -> NDArray[np.int32]:
        """Each span's parent row within its trace, -1 for a root (parent absent); a
        trace holding a span id twice is irregular (the tree keeps the first record)."""
        n, count = len(self.sid), len(self)
        parent, repeated = np.empty(n, np.int32), np.empty(count, np.uint8)
        assert _tree is not None
        _tree.parents(
            self.offsets, self.sid, self.pid, self.has_parent.view(np.uint8), parent, repeated
        )
        self.irregular |= repeated != 0
        return parent

    def _mark_skew(self) -> None:
        """A child on another resource outside its parent's window may be corrected
        (``_tree.skewed``: not a PRODUCER's child, not a CONSUMER)."""
        assert _tree is not None
        mark = self.irregular.view(np.uint8)
        _tree.skewed(
            self.offsets, self.parent, self.resource, self.kind, self.start, self.end, mark
        )


class Contributions:
    """What each trace gives the window's operations and entries, in trace order.

    ``self_*``: one row per span (trace, key, self ns), spans in record order;
    ``share_*``: one row per operation on the critical path (trace, key, ns), in path
    order; ``entry_*``: one row per trace with a root (trace, the root's key, duration).
    Keys are ids into ``names``.
    """

    def __init__(self, columns: TraceColumns) -> None:
        self.batch = columns
        self.table, self.key = _keys(columns)
        self.trees: dict[int, TraceTree] = {}
        self.roots: dict[int, bytes] = {}  # the main root of each irregular trace with one
        self._native()

    def _native(self) -> None:
        b = self.batch
        n, count = len(b.spans), len(b)
        self_ns, cp_ns = np.empty(n, np.int64), np.empty(n, np.int64)
        cp_last, root = np.empty(n, np.int32), np.empty(count, np.int32)
        ok = np.empty(count, np.uint8)
        orphan = ((b.parent < 0) & b.has_parent).astype(np.uint8)
        assert _tree is not None
        _tree.analyse(
            b.offsets, b.parent, b.start, b.end, b.sid, orphan, self_ns, cp_ns, cp_last, root, ok
        )
        self.irregular = b.irregular | (ok == 0)
        regular = ~self.irregular[b.trace]
        self.root = root.astype(np.int64)
        self.root32 = root
        for t in np.flatnonzero(self.irregular).tolist():
            tree = self.trees[t] = build_tree(b.spans[b.offsets[t] : b.offsets[t + 1]])
            main = tree.main_root()
            if main is not None:
                self.roots[t] = main
        self._self_rows(regular, self_ns)
        self._share_rows(cp_ns, cp_last)
        self._entry_rows()

    def intern(self, key: OpKey) -> int:
        return self.table.setdefault(key, len(self.table))

    def _self_rows(self, regular: NDArray[np.bool_], self_ns: I64) -> None:
        b = self.batch
        parts = [(b.trace[regular], self.key[regular], self_ns[regular])]
        for t, tree in self.trees.items():
            if t in self.roots:
                times = self_times(tree)
                keys = [self._tree_key(tree, s) for s in times]
                parts.append(_part(t, keys, list(times.values())))
        self.self_t, self.self_key, self.self_ns = _merge(parts)

    def _share_rows(self, cp_ns: I64, cp_last: NDArray[np.int32]) -> None:
        b = self.batch
        n, count = len(b.spans), len(b)
        t, key, ns = (np.empty(n + count, np.int64) for _ in range(3))
        assert _tree is not None
        skip = self.irregular.view(np.uint8)
        rows = _tree.shares(b.offsets, self.key, cp_ns, cp_last, self.root32, skip, t, key, ns)
        parts = [(t[:rows], key[:rows], ns[:rows])]
        for tree_t, tree in self.trees.items():
            if tree_t in self.roots:
                shares = path_shares(tree, self.roots[tree_t])
                keys = [self.intern(k) for k in shares]
                parts.append(_part(tree_t, keys, list(shares.values())))
        self.share_t, self.share_key, self.share_ns = _merge(parts)

    def _entry_rows(self) -> None:
        b = self.batch
        regular = np.flatnonzero(~self.irregular)
        rows = self.root[regular]
        parts = [(regular, self.key[rows], b.end[rows] - b.start[rows])]
        for t, main in self.roots.items():
            tree = self.trees[t]
            parts.append(_part(t, [self._tree_key(tree, main)], [tree.duration_ns(main)]))
        self.entry_t, self.entry_key, self.entry_ns = _merge(parts)

    def _tree_key(self, tree: TraceTree, span_id: bytes) -> int:
        return self.intern((tree.spans[span_id].resource.service_name, tree.operations[span_id]))

    def names(self) -> list[OpKey]:
        return list(self.table)


def _keys(columns: TraceColumns) -> tuple[dict[OpKey, int], I64]:
    """Each span's (service, operation) as an id, and the ids' table (ids in order of
    first appearance).

    Services are read once per resource and operations come as ids into one table of
    names, so the pairs are numbered with integer work only.
    """
    got = columns.completed
    services: dict[str, int] = {}
    resource_service = np.fromiter(
        (services.setdefault(r.service_name, len(services)) for r in got.resources),
        np.int64,
        len(got.resources),
    )
    size = max(len(got.names), 1)
    code = resource_service[got.resource] * size + got.op
    pairs, key = first_seen(code)
    service_names, op_names = list(services), got.names
    table = {(service_names[p // size], op_names[p % size]): i for i, p in enumerate(pairs)}
    return table, key


def first_seen(code: I64) -> tuple[list[int], I64]:
    """The distinct codes (>= 0) in order of first appearance, and each row's index in
    that list, without sorting (a table as long as the largest code)."""
    n = len(code)
    if not n:
        return [], np.zeros(0, np.int64)
    first_of = np.empty(int(code.max()) + 1, np.int64)
    rows = np.arange(n, dtype=np.int64)
    first_of[code[::-1]] = rows[::-1]  # the last assignment, the earliest row, stays
    first = first_of[code]
    starts = first == rows
    rank = np.cumsum(starts) - 1
    return code[starts].tolist(), rank[first]


def _part(t: int, keys: list[int], values: list[int]) -> tuple[I64, I64, I64]:
    size = len(keys)
    return (
        np.full(size, t, np.int64),
        np.array(keys, np.int64).reshape(size),
        np.array(values, np.int64).reshape(size),
    )


def _merge(parts: list[tuple[Any, Any, Any]]) -> tuple[I64, I64, I64]:
    """The parts' rows in trace order (stable: each trace's rows keep their order)."""
    if len(parts) == 1:  # the usual tick: no irregular trace, nothing to interleave
        trace, key, value = (_int64(x) for x in parts[0])
        return trace, key, value
    trace, key, value = (_int64(np.concatenate([p[j] for p in parts])) for j in range(3))
    order = np.argsort(trace, kind="stable")
    return trace[order], key[order], value[order]


def _int64(values: Any) -> I64:
    found: I64 = np.asarray(values).astype(np.int64, copy=False)
    return found
