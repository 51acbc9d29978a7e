"""A tick's completed traces: their rows' columns concatenated once, trace by trace.

When traces complete, :class:`Completed` gathers their rows from the chunks that hold
them (``held.py``; numpy, one gather per column for all chunks together), in the order
the traces completed and, within a trace, in the order its spans arrived: what the
analysis (``fast.py``) reads. Records are read from their chunks only when asked for
(:class:`Records`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Any

import numpy as np
from numpy.typing import NDArray

from otel_perf.model import Resource, SpanKind, SpanRecord
from otel_perf.processors.bottlenecks.held import (
    COLUMNS,
    DTYPES,
    I64,
    Chunk,
    chunk_from_records,
)
from otel_perf.semconv import is_framework_internal, kept_operation

_INTERNAL = int(SpanKind.INTERNAL)


class Trace(list[SpanRecord]):
    """A completed trace's spans with each one's operation (named at arrival)."""

    __slots__ = ("operations",)

    def __init__(self, spans: Iterable[SpanRecord] = (), operations: list[str] | None = None):
        super().__init__(spans)
        self.operations: list[str] = operations or []


class Records(Sequence[SpanRecord]):
    """The records of a :class:`Completed`'s rows, read from their chunks when asked."""

    def __init__(self, chunks: list[Chunk], chunk: I64, row: I64) -> None:
        self._spans = [c.spans for c in chunks]
        self._chunk, self._row = chunk, row

    def __len__(self) -> int:
        return len(self._row)

    def __getitem__(self, i: Any) -> Any:
        spans = self._spans
        if isinstance(i, slice):
            pairs = zip(self._chunk[i].tolist(), self._row[i].tolist(), strict=True)
            return [spans[c][r] for c, r in pairs]
        return spans[int(self._chunk[i])][int(self._row[i])]


def _renumber(local: NDArray[Any], chunk: I64, tables: list[list[Any]], out: list[Any]) -> I64:
    """Ids into each chunk's table as ids into one table (``out``, filled here) of the
    distinct items (by equality; a table seen twice is read once)."""
    index: dict[Any, int] = {}
    remap: dict[int, list[int]] = {}
    parts = []
    for table in tables:
        ids = remap.get(id(table))
        if ids is None:
            ids = remap[id(table)] = [index.setdefault(item, len(index)) for item in table]
        parts.append(ids)
    out += index
    if not len(local):
        return np.zeros(0, np.int64)
    first = np.zeros(len(tables) + 1, np.int64)
    np.cumsum([len(t) for t in tables], out=first[1:])
    flat = np.fromiter(chain.from_iterable(parts), np.int64, int(first[-1]))
    found_ids: I64 = flat[first[chunk] + local]
    return found_ids


def _renumber_by_identity(
    local: NDArray[Any], chunk: I64, tables: list[list[Any]], out: list[Any]
) -> I64:
    """:func:`_renumber` for items told apart by identity (resources)."""
    seen: dict[int, Any] = {}
    for table in tables:
        for item in table:
            seen.setdefault(id(item), item)
    ids = _renumber(local, chunk, [[id(item) for item in table] for table in tables], [])
    out += seen.values()
    return ids


def _joined(parts: list[NDArray[Any]], at: I64 | None, dtype: Any) -> NDArray[Any]:
    """The parts concatenated, then the rows ``at`` of that (all of them when None)."""
    if not parts:
        return np.zeros(0, dtype)
    joined = np.concatenate(parts) if len(parts) > 1 else parts[0]
    return joined if at is None else joined[at]


_EMPTY: Completed | None = None


class Completed:
    """Traces that completed together: their rows' columns concatenated trace by trace.

    Row ``i`` is ``spans[i]``; trace ``t`` is rows ``offsets[t]`` to ``offsets[t+1]-1``;
    ``op`` indexes ``names``. Columns are as :data:`COLUMNS` (``end`` is the span's own).
    """

    def __init__(
        self, chunks: list[Chunk], which: I64, lo: I64, hi: I64, keys: list[int] | None = None
    ) -> None:
        """Trace ``t`` is rows ``lo[t]`` to ``hi[t] - 1`` of ``chunks[which[t]]``, its
        key (``assembly.trace_key``) ``keys[t]`` when given."""
        self.keys = keys
        sizes = hi - lo
        self.offsets = np.zeros(len(sizes) + 1, np.int64)
        np.cumsum(sizes, out=self.offsets[1:])
        total = int(self.offsets[-1])
        step = np.repeat(self.offsets[:-1] - lo, sizes)
        row = np.arange(total, dtype=np.int64) - step
        chunk = np.repeat(which, sizes)
        self.spans: Sequence[SpanRecord] = Records(chunks, chunk, row)
        base = np.zeros(len(chunks) + 1, np.int64)
        np.cumsum([len(c.spans) for c in chunks], out=base[1:])
        at = base[chunk] + row
        # whole chunks in order (the usual tick): their columns as they are, concatenated
        whole = total == int(base[-1]) and bool((at == np.arange(total)).all())
        columns = {
            name: _joined([c.column(name) for c in chunks], None if whole else at, dtype)
            for name, dtype in zip(COLUMNS, DTYPES, strict=True)
        }
        self.start: I64 = columns["start"]
        self.end: I64 = columns["end"]
        self.kind: I64 = columns["kind"]
        self.sid: NDArray[np.uint64] = columns["sid"]
        self.pid: NDArray[np.uint64] = columns["pid"]
        self.flags: NDArray[np.uint8] = columns["flags"]
        self.names: list[str] = []
        self.resources: list[Resource] = []
        #: ``names`` index per row; ``resources`` index per row (the resource's identity)
        self.op = _renumber(columns["op"], chunk, [c.names for c in chunks], self.names)
        self.resource = _renumber_by_identity(
            columns["resource"], chunk, [c.resources for c in chunks], self.resources
        )

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def trace_id(self, t: int) -> str:
        """Trace ``t``'s id in hex (from its key when known: no record is read)."""
        if self.keys is not None:
            return format(self.keys[t], "x")[1:]  # the key is the id after a 0x01 byte
        return self.spans[int(self.offsets[t])].trace_id.hex()

    @classmethod
    def empty(cls) -> Completed:
        """No trace (one shared instance: nothing in it changes)."""
        global _EMPTY
        if _EMPTY is None:
            nothing = np.zeros(0, np.int64)
            _EMPTY = cls([], nothing, nothing, nothing)
        return _EMPTY

    @classmethod
    def from_traces(cls, traces: Sequence[list[SpanRecord]]) -> Completed:
        """Traces given as records (each span named now, unless it is a :class:`Trace`)."""
        spans: list[SpanRecord] = []
        names: list[str] = []
        sizes = []
        for trace in traces:
            given = trace.operations if isinstance(trace, Trace) and trace.operations else None
            spans += trace
            names += given if given is not None else [kept_operation(s) for s in trace]
            sizes.append(len(trace))
        fold = [s.kind == _INTERNAL and is_framework_internal(s) for s in spans]
        chunk = chunk_from_records(spans, names, fold)
        hi = np.cumsum(np.array(sizes, np.int64))
        return cls([chunk], np.zeros(len(sizes), np.int64), hi - sizes, hi)

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
