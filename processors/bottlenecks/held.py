"""Spans held until their trace completes, as columns, and a tick's completed traces.

A batch's spans are read into columns once, when the batch arrives and its records are
still in the processor's cache (``_tree.gather``, C): times, kind, the resource's
identity, span, parent and trace ids as integers, the operation each span was named at
arrival, and flags for what the analysis looks at one by one (events, memory figures, a
DB statement) or what sends a trace to the Python tree (odd ids or times, a
framework-internal span to fold). The columns are kept in trace order (a :class:`Chunk`),
so a held trace is a few row ranges of chunks (:class:`Parts`), not a list of records.

When traces complete, :meth:`Completed.of` concatenates their rows' columns once (numpy,
one gather per chunk), in the order the traces completed and, within a trace, in the
order its spans arrived: what the analysis (``fast.py``) reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np
from numpy.typing import NDArray

from otel_perf.model import SpanKind, SpanRecord
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
    """Columns of some of a batch's spans (``spans[i]`` is row ``i``), in trace order."""

    __slots__ = ("names", "spans", *COLUMNS)

    def __init__(self, spans: list[SpanRecord], names: list[str], columns: Sequence[Any]) -> None:
        self.spans, self.names = spans, names
        for name, column in zip(COLUMNS, columns, strict=True):
            setattr(self, name, column)

    def column(self, name: str) -> NDArray[Any]:
        found: NDArray[Any] = getattr(self, name)
        return found


def read(spans: list[SpanRecord], named: Named) -> tuple[list[NDArray[Any]], NDArray[np.uint64]]:
    """The columns of ``spans`` in their order (as :data:`COLUMNS`) and their trace ids
    as ``(n, 2)`` big-endian halves."""
    n = len(spans)
    out = [np.empty(n, dtype) for dtype in DTYPES[:-2]]
    flags = np.empty(n, np.uint8)
    tid = np.empty((n, 2), np.uint64)
    if _tree is not None:
        _tree.gather(spans, STATEMENT_KEYS, MEMORY_KEYS, *out, tid, flags)
    else:
        _read_python(spans, out, tid, flags)
    fold = named.fold
    if fold.any():
        flags[fold] |= np.uint8(FOLD)
    return [*out, flags, named.ids], tid


def _read_python(
    spans: list[SpanRecord], out: list[NDArray[Any]], tid: NDArray[np.uint64], flags: NDArray[Any]
) -> None:
    """What ``_tree.gather`` reads, in Python (without the C helper)."""
    start, end, kind, resource, sid, pid = out
    for i, span in enumerate(spans):
        f = 0
        values = (span.start_ns, span.end_ns, span.kind)
        if not all(type(v) is int and -(2**63) <= v < 2**63 for v in values):
            f |= ODD_TIME
            values = tuple(v if type(v) is int and -(2**63) <= v < 2**63 else 0 for v in values)
        start[i], end[i], kind[i] = values
        resource[i] = id(span.resource)
        sid[i], odd = _id(span.span_id)
        f |= ODD_ID if odd else 0
        parent = span.parent_span_id
        pid[i], odd = _id(parent)
        f |= (ODD_PARENT if odd and parent else 0) | (HAS_PARENT if parent else 0)
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


def _id(value: bytes) -> tuple[int, bool]:
    return (int.from_bytes(value, "big"), False) if len(value) == 8 else (0, True)


def chunk_of(
    spans: list[SpanRecord], names: list[str], columns: list[NDArray[Any]], order: I64 | None
) -> Chunk:
    """The rows of ``columns`` in ``order`` (all of them as they are when None)."""
    if order is None:
        return Chunk(spans, names, columns)
    picked = list(itemgetter(*order.tolist())(spans)) if len(order) > 1 else [spans[order[0]]]
    return Chunk(picked, names, [c[order] for c in columns])


class Parts(list[tuple[Chunk, int, int]]):
    """A held trace's spans: ``(chunk, first row, past the last row)`` ranges, in the
    order they arrived."""

    __slots__ = ()

    def extend_row(self, chunk: Chunk, row: int) -> None:
        """Add one row: it lengthens the last range when it follows it."""
        if self:
            last, a, b = self[-1]
            if last is chunk and b == row:
                self[-1] = (chunk, a, b + 1)
                return
        self.append((chunk, row, row + 1))

    def spans(self) -> list[SpanRecord]:
        out: list[SpanRecord] = []
        for chunk, a, b in self:
            out += chunk.spans[a:b]
        return out


class Trace(list[SpanRecord]):
    """A completed trace's spans with each one's operation (named at arrival)."""

    __slots__ = ("operations",)

    def __init__(self, spans: Iterable[SpanRecord] = (), operations: list[str] | None = None):
        super().__init__(spans)
        self.operations: list[str] = operations or []


class Completed:
    """Traces that completed together: their rows' columns concatenated trace by trace.

    Row ``i`` is ``spans[i]``; trace ``t`` is rows ``offsets[t]`` to ``offsets[t+1]-1``;
    ``op`` indexes ``names``. Columns are as :data:`COLUMNS` (``end`` is the span's own).
    """

    def __init__(
        self,
        spans: list[SpanRecord],
        offsets: I64,
        columns: dict[str, NDArray[Any]],
        names: list[str],
    ) -> None:
        self.spans, self.offsets, self.names = spans, offsets, names
        self.start: I64 = columns["start"]
        self.end: I64 = columns["end"]
        self.kind: I64 = columns["kind"]
        self.resource: I64 = columns["resource"]
        self.sid: NDArray[np.uint64] = columns["sid"]
        self.pid: NDArray[np.uint64] = columns["pid"]
        self.flags: NDArray[np.uint8] = columns["flags"]
        self.op: I64 = columns["op"]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def of(cls, held: Sequence[Parts]) -> Completed:
        """The traces ``held`` in order (each one's ranges in order)."""
        spans: list[SpanRecord] = []
        lengths: list[int] = []
        by_chunk: dict[int, tuple[Chunk, list[int], list[int], list[int]]] = {}
        at = 0
        for parts in held:
            size = 0
            for chunk, a, b in parts:
                spans += chunk.spans[a:b]
                entry = by_chunk.get(id(chunk))
                if entry is None:
                    entry = by_chunk[id(chunk)] = (chunk, [], [], [])
                entry[1].append(a)
                entry[2].append(b - a)
                entry[3].append(at + size)
                size += b - a
            lengths.append(size)
            at += size
        offsets = np.zeros(len(held) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return cls(spans, offsets, *_concatenate(by_chunk.values(), at))

    @classmethod
    def from_traces(cls, traces: Sequence[list[SpanRecord]]) -> Completed:
        """Traces given as records (each span named now, unless it is a :class:`Trace`)."""
        held = []
        for trace in traces:
            given = trace.operations if isinstance(trace, Trace) and trace.operations else None
            spans = list(trace)
            named = named_per_span(spans, given)
            columns, _ = read(spans, named)
            held.append(Parts([(Chunk(spans, named.names, columns), 0, len(spans))]))
        return cls.of(held)

    def traces(self) -> list[Trace]:
        """Each trace's records with their operations (the Python tree's input)."""
        names, op, spans = self.names, self.op.tolist(), self.spans
        bounds = self.offsets.tolist()
        return [
            Trace(spans[a:b], [names[i] for i in op[a:b]])
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]

    def operations(self) -> list[str]:
        """Each row's operation."""
        names = self.names
        return [names[i] for i in self.op.tolist()]


def _concatenate(
    chunks: Iterable[tuple[Chunk, list[int], list[int], list[int]]], rows: int
) -> tuple[dict[str, NDArray[Any]], list[str]]:
    """Each chunk's ranges (first row, length, position) copied into columns of ``rows``;
    the operation ids renumbered into one table of names."""
    out = {name: np.empty(rows, dtype) for name, dtype in zip(COLUMNS, DTYPES, strict=True)}
    out["op"] = np.empty(rows, np.int64)
    table: dict[str, int] = {}
    for chunk, first, length, position in chunks:
        sizes = np.array(length, np.int64)
        total = int(sizes.sum())
        step = np.repeat(np.cumsum(sizes) - sizes, sizes)
        within = np.arange(total, dtype=np.int64) - step
        source = np.repeat(np.array(first, np.int64), sizes) + within
        target = np.repeat(np.array(position, np.int64), sizes) + within
        for name in COLUMNS[:-1]:
            out[name][target] = chunk.column(name)[source]
        renumber = np.fromiter(
            (table.setdefault(n, len(table)) for n in chunk.names), np.int64, len(chunk.names)
        )
        out["op"][target] = renumber[chunk.op[source]]
    return out, list(table)
