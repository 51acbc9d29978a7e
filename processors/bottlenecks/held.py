"""Spans held until their trace completes, as columns.

A batch's spans are read into columns once, when the batch arrives and its records are
still in the processor's cache (:func:`take`: ``_tree.take``, C): times, kind, the
resource, span, parent and trace ids as integers, the operation each span was named at
arrival, and flags for what the analysis looks at one by one (events, memory figures, a
DB statement) or what sends a trace to the Python tree (odd ids or times, a
framework-internal span to fold). The rows are grouped by trace id in the same pass and
kept in trace order (a :class:`Chunk`), so a held trace is one range of a chunk's rows
(``assembly.py``), not a list of records.

When traces complete, ``completed.py`` concatenates their rows' columns once.

The records a chunk holds are taken out of the cyclic garbage collector's care
(``_tree.untrack``; records of exactly :class:`~otel_perf.model.SpanRecord`): a record
cannot be part of a reference cycle (it holds ids, numbers, strings, its resource and
attribute values), and thousands of tracked records held for the quiet time reached the
oldest generation, so every full collection of the process walked them — measured in
process, that was about 1.3 µs a span of CPU, charged mostly to the decode of the next
batches (whose allocations trigger the collections).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from otel_perf.model import Resource, SpanKind, SpanRecord
from otel_perf.processors.bottlenecks.memory import DELTA, RSS_END
from otel_perf.semconv import is_framework_internal, kept_operation

try:
    from otel_perf.processors.bottlenecks import _tree  # type: ignore[attr-defined]
except ImportError:  # built without a C compiler: columns are read in Python
    _tree = None

BUILT = _tree is not None
"""Whether the C helper was compiled at install."""

I64 = NDArray[np.int64]
HAS_PARENT, ODD_ID, ODD_PARENT, ODD_TIME, ODD_TRACE = 1, 2, 4, 8, 16
EVENTS, MEMORY, STATEMENT = 32, 64, 128
FOLD = ODD_TRACE
"""Once a batch is grouped by trace (which needs 16-byte trace ids), the odd-trace bit
marks a framework-internal span instead, which the tree folds away."""
IRREGULAR = ODD_ID | ODD_PARENT | ODD_TIME | FOLD
"""Flags of a span whose trace's tree would change what it was given (the Python tree)."""
STATEMENT_KEYS = ("db.query.text", "db.statement")
MEMORY_KEYS = (DELTA, RSS_END)
_INTERNAL = int(SpanKind.INTERNAL)
COLUMNS = ("start", "end", "kind", "resource", "sid", "pid", "flags", "op")
DTYPES = (np.int64, np.int64, np.int64, np.int64, np.uint64, np.uint64, np.uint8, np.int32)


@dataclass(frozen=True, slots=True)
class Named:
    """Operations given to a batch's spans: ``names[ids[row]]``; ``fold[row]`` marks a
    framework-internal span."""

    names: list[str]
    ids: NDArray[np.int32]
    fold: NDArray[np.bool_]

    def take(self, rows: NDArray[np.intp]) -> Named:
        return Named(self.names, self.ids[rows], self.fold[rows])


def named_per_span(spans: Sequence[SpanRecord], operations: Sequence[str] | None) -> Named:
    """``operations`` (one per span) as a :class:`Named`; each span's
    :func:`~otel_perf.semconv.kept_operation` when none are given."""
    given = operations if operations is not None else [kept_operation(s) for s in spans]
    table: dict[str, int] = {}
    ids = np.fromiter((table.setdefault(n, len(table)) for n in given), np.int32, len(given))
    fold = np.fromiter(
        (s.kind == _INTERNAL and is_framework_internal(s) for s in spans), bool, len(spans)
    )
    return Named(list(table), ids, fold)


class Chunk:
    """Columns of some of a batch's spans (``spans[i]`` is row ``i``), in trace order.

    When its traces are held here (:meth:`hold`), trace ``j`` is rows ``lo[j]`` to
    ``hi[j] - 1``, with its key, when it was first and last seen, when it completes
    (``deadline``), its place in the order traces were taken (``seq``) and whether the
    chunk still holds it (``alive``).
    """

    __slots__ = (
        "names",
        "resources",
        "spans",
        *COLUMNS,
        "keys",
        "lo",
        "hi",
        "first_seen",
        "last_seen",
        "deadline",
        "seq",
        "alive",
        "live",
        "soonest",
    )

    def __init__(
        self,
        spans: list[SpanRecord],
        names: list[str],
        columns: Sequence[Any],
        resources: list[Resource],
    ) -> None:
        self.spans, self.names, self.resources = spans, names, resources
        start, end, kind, resource, sid, pid, flags, op = columns
        self.start: I64 = start
        self.end: I64 = end
        self.kind: I64 = kind
        self.resource: I64 = resource
        self.sid: NDArray[np.uint64] = sid
        self.pid: NDArray[np.uint64] = pid
        self.flags: NDArray[np.uint8] = flags
        self.op: NDArray[np.int32] = op

    def column(self, name: str) -> NDArray[Any]:
        found: NDArray[Any] = getattr(self, name)
        return found

    def hold(
        self, keys: list[int], lo: I64, hi: I64, first_seen: I64, last_seen: I64, deadline: I64
    ) -> None:
        """The chunk's traces (none of them held yet: see :meth:`take`)."""
        self.keys, self.lo, self.hi = keys, lo, hi
        self.first_seen, self.last_seen, self.deadline = first_seen, last_seen, deadline
        self.seq = np.zeros(len(keys), np.int64)
        self.alive = np.zeros(len(keys), bool)
        self.live = 0
        self.soonest = 0

    def take(self, j: int | slice, seq: int | I64) -> None:
        """Hold trace(s) ``j``, taken as ``seq`` (then :meth:`settle`)."""
        self.alive[j], self.seq[j] = True, seq

    def settle(self, every: bool = False) -> None:
        """Count the traces held and find the soonest deadline among them (``every``:
        the chunk holds all of its traces)."""
        if every:
            self.live = len(self.alive)
            self.soonest = int(self.deadline.min()) if self.live else 0
            return
        self.live = int(self.alive.sum())
        self.soonest = int(self.deadline[self.alive].min()) if self.live else 0

    def release(self, j: int) -> None:
        """Trace ``j`` is no longer held here (evicted, or more spans came for it)."""
        self.alive[j] = False
        self.live -= 1

    def due(self, now_ns: int) -> I64:
        """The held traces complete at ``now_ns`` (released), in order."""
        if self.soonest > now_ns or not self.live:
            return np.zeros(0, np.int64)
        found = np.flatnonzero(self.alive & (self.deadline <= now_ns))
        self.alive[found] = False
        self.live -= len(found)
        self.soonest = int(self.deadline[self.alive].min()) if self.live else 0
        return found

    def records(self, j: int) -> list[SpanRecord]:
        return self.spans[int(self.lo[j]) : int(self.hi[j])]

    def operations(self, j: int) -> list[str]:
        names = self.names
        return [names[i] for i in self.op[int(self.lo[j]) : int(self.hi[j])].tolist()]

    def folded(self, j: int) -> list[bool]:
        flags = self.flags[int(self.lo[j]) : int(self.hi[j])]
        found: list[bool] = ((flags & np.uint8(FOLD)) != 0).tolist()
        return found


class Read(NamedTuple):
    """What :func:`read` reads of some spans."""

    columns: list[NDArray[Any]]  # as COLUMNS; ``resource`` indexes ``resources``
    tid: NDArray[np.uint64]  # trace ids as (n, 2) big-endian halves
    resources: list[Resource]  # in order of first appearance


def read(spans: list[SpanRecord], named: Named) -> Read:
    """The columns of ``spans`` in their order."""
    n = len(spans)
    out = [np.empty(n, dtype) for dtype in DTYPES[:-2]]
    flags = np.empty(n, np.uint8)
    tid = np.empty((n, 2), np.uint64)
    if _tree is not None:
        resources = _tree.gather(spans, STATEMENT_KEYS, MEMORY_KEYS, *out, tid, flags)
    else:
        resources = _read_python(spans, out, tid, flags)
    fold = named.fold
    if fold.any():
        flags[fold] |= np.uint8(FOLD)
    return Read([*out, flags, named.ids], tid, resources)


def _read_python(
    spans: list[SpanRecord], out: list[NDArray[Any]], tid: NDArray[np.uint64], flags: NDArray[Any]
) -> list[Resource]:
    """What ``_tree.gather`` reads, in Python (without the C helper)."""
    start, end, kind, resource, sid, pid = out
    seen: dict[int, int] = {}
    resources: list[Resource] = []
    for i, span in enumerate(spans):
        f = 0
        values = [span.start_ns, span.end_ns, span.kind]
        if not all(isinstance(v, int) and -(2**63) <= v < 2**63 for v in values):
            f |= ODD_TIME
            values = [v if isinstance(v, int) and -(2**63) <= v < 2**63 else 0 for v in values]
        start[i], end[i], kind[i] = values
        resource[i] = seen.setdefault(id(span.resource), len(seen))
        if resource[i] == len(resources):
            resources.append(span.resource)
        sid[i], odd = _id(span.span_id)
        f |= ODD_ID if odd else 0
        parent = span.parent_span_id
        pid[i], odd_parent = _id(parent)
        f |= (ODD_PARENT if odd_parent and parent else 0) | (HAS_PARENT if parent else 0)
        if parent and not odd and not odd_parent and pid[i] in (0, sid[i]):
            f |= ODD_PARENT
        trace_id = span.trace_id
        if len(trace_id) == 16:
            tid[i] = (int.from_bytes(trace_id[:8], "big"), int.from_bytes(trace_id[8:], "big"))
        else:
            tid[i], f = (0, 0), f | ODD_TRACE
        attrs = span.attributes
        f |= EVENTS if span.events else 0
        f |= STATEMENT if any(k in attrs for k in STATEMENT_KEYS) else 0
        f |= MEMORY if any(k in attrs for k in MEMORY_KEYS) else 0
        flags[i] = f
    return resources


def _id(value: bytes) -> tuple[int, bool]:
    return (int.from_bytes(value, "big"), False) if len(value) == 8 else (0, True)


class Taken(NamedTuple):
    """A batch read by :func:`take`: its chunk and, when it could be grouped by trace,
    the traces' row ranges (in order of first appearance), latest ends and keys."""

    chunk: Chunk
    lo: I64 | None
    hi: I64 | None
    last: I64 | None
    keys: list[int] | None
    order: I64 | None  # the spans' row of each of the chunk's (None: the same)

    def arrival(self) -> Sequence[int]:
        """The chunk's rows in the order their spans came."""
        if self.order is None:
            return range(len(self.chunk.spans))
        rows = np.empty(len(self.order), np.int64)
        rows[self.order] = np.arange(len(self.order), dtype=np.int64)
        found: list[int] = rows.tolist()
        return found


def take(spans: list[SpanRecord], named: Named) -> Taken:
    """``spans`` read into a chunk, in trace order when the batch can be grouped by
    trace id (ids of the usual length, times int64, no span id twice)."""
    if _tree is None:
        got = read(spans, named)
        chunk = chunk_of(spans, named.names, got, None)
        return Taken(chunk, None, None, None, None, None)
    _tree.untrack(spans, SpanRecord)  # held for the quiet time: see the module's docstring
    n = len(spans)
    out = [np.empty(n, dtype) for dtype in DTYPES[:-2]]
    flags = np.empty(n, np.uint8)
    order, lo, hi, last = (np.empty(n, np.int64) for _ in range(4))
    resources, ordered, keys, count = _tree.take(
        spans, STATEMENT_KEYS, MEMORY_KEYS, *out, flags, order, lo, hi, last
    )
    fold = named.fold
    if ordered is None:
        if fold.any():
            flags[fold] |= np.uint8(FOLD)
        chunk = Chunk(spans, named.names, [*out, flags, named.ids], resources)
        return Taken(chunk, None, None, None, None, None)
    if fold.any():
        flags[fold[order]] |= np.uint8(FOLD)
    chunk = Chunk(ordered, named.names, [*out, flags, named.ids[order]], resources)
    return Taken(chunk, lo[:count], hi[:count], last[:count], keys, order)


def chunk_of(spans: list[SpanRecord], names: list[str], got: Read, order: I64 | None) -> Chunk:
    """The rows read in ``order`` (all of them as they are when None)."""
    if order is None:
        return Chunk(spans, names, got.columns, got.resources)
    picked = list(itemgetter(*order.tolist())(spans)) if len(order) > 1 else [spans[order[0]]]
    return Chunk(picked, names, [c[order] for c in got.columns], got.resources)


def chunk_from_records(spans: list[SpanRecord], names: list[str], fold: list[bool]) -> Chunk:
    """A chunk of records held one by one, each with its operation (and whether it is
    framework-internal)."""
    table: dict[str, int] = {}
    ids = np.fromiter((table.setdefault(n, len(table)) for n in names), np.int32, len(names))
    named = Named(list(table), ids, np.array(fold, bool).reshape(len(fold)))
    return chunk_of(spans, named.names, read(spans, named), None)
