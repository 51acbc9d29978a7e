"""The batch's operation column, shared by every processor: each row's
:func:`otel_perf.semconv.operation`, named once per combination of what the rule reads
(:mod:`otel_perf.facts` groups the rows), and a combination's answer remembered across
batches by its values (:class:`OperationMemo`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat

import numpy as np
from numpy.typing import NDArray

from otel_perf.columns import NONE, OTHER, SpanColumns
from otel_perf.facts import FIRST_VALUE_CODE, I32, NATIVE_GROUPS, group_rows, nonempty_ids
from otel_perf.model import SpanKind, SpanRecord
from otel_perf.semconv import EXIT_OPERATION_KEYS, operation

try:
    from otel_perf import _groups
except ImportError:  # built without a C compiler: numpy masks the reads
    _groups = None  # type: ignore[assignment]

#: what :func:`otel_perf.semconv.route_of` reads of an entry span (besides its name)
ENTRY_KEYS = ("http.route", "http.request.method", "http.method", "rpc.method", "rpc.service")
STATUS_KEYS = ("http.response.status_code", "http.status_code")
PORT_KEY = "server.port"
ENTRY_MASK, STATUS_MASK, EXIT_MASK, PATH_MASK, URL_MASK, PORT_MASK = range(6)
_EXIT_MASKS = {"url.path": PATH_MASK, "http.target": PATH_MASK, "url.full": URL_MASK}
_EXIT_MASKS |= {"http.url": URL_MASK, PORT_KEY: PORT_MASK}
READS = (
    *((key, ENTRY_MASK, True) for key in ENTRY_KEYS),
    *((key, STATUS_MASK, True) for key in STATUS_KEYS),
    *((k, _EXIT_MASKS.get(k, EXIT_MASK), k == PORT_KEY) for k in EXIT_OPERATION_KEYS),
)
"""What the rule reads: (attribute key, which rows, whether a value that is not a string
counts) — an entry span's route, method and rpc attributes, its status code only when
it has neither a route nor an rpc method, an exit span's ``EXIT_OPERATION_KEYS``."""
ROUTED_KEYS = (
    *("http.route", "rpc.method", "url.template"),
    *("server.address", "net.peer.name", "peer.service"),
)
"""What decides which rows the rule reads: routes (entry and exit), then the hosts."""
_ENTRY = np.zeros(256, bool)  # by kind (as uint8)
_ENTRY[[SpanKind.SERVER, SpanKind.CONSUMER]] = True
_EXIT = np.zeros(256, bool)
_EXIT[[SpanKind.CLIENT, SpanKind.PRODUCER]] = True
MAX_REMEMBERED = 8192
"""Combinations :data:`MEMO` holds before it is cleared (their keys come off the wire)."""


@dataclass(frozen=True, slots=True)
class Operations:
    """The batch's operations: ``names[ids[row]]`` is row's operation.

    Attributes:
        names: one per distinct operation of the batch; None for framework-internal spans.
        ids: int32 per row, an index into ``names``.
        combination: int32 per row, the row's combination of the fields the rule reads
            (finer than ``ids``: two combinations may name one operation).
        first: per combination, the first row holding it.
    """

    names: tuple[str | None, ...]
    ids: I32
    combination: I32
    first: I32


class OperationMemo:
    """Operation names remembered across batches, by the values of a combination.

    A combination's key is what the rule reads of it, as values rather than batch-local
    ids (:func:`combination_keys`): a steady stream of the same operations runs the rule
    once ever. The keys come off the wire, so at ``limit`` entries the memo is cleared
    and starts again (``cleared`` counts it); a stream of more distinct combinations
    than that costs what it did without the memo.
    """

    def __init__(self, limit: int = MAX_REMEMBERED) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.limit = limit
        self.cleared = 0
        self._names: dict[tuple[object, ...], str | None] = {}

    def __len__(self) -> int:
        return len(self._names)

    def recall(
        self, keys: list[tuple[object, ...]], spans: Sequence[SpanRecord], first: I32
    ) -> list[str | None]:
        """Per key, its operation: remembered, else ``operation`` of that first span."""
        found: list[object] = list(map(self._names.get, keys, repeat(_MISSING)))
        if _MISSING in found:
            for i, name in enumerate(found):
                if name is _MISSING:
                    found[i] = self._learn(keys[i], spans[int(first[i])])
        return found  # type: ignore[return-value]  # every _MISSING was replaced

    def _learn(self, key: tuple[object, ...], span: SpanRecord) -> str | None:
        if len(self._names) >= self.limit:
            self._names.clear()
            self.cleared += 1
        name = self._names[key] = operation(span)
        return name


_MISSING = object()
MEMO = OperationMemo()
"""The process's memo of operation names (every batch's :func:`operations` uses it)."""


def operations(
    columns: SpanColumns, spans: Sequence[SpanRecord], memo: OperationMemo | None = None
) -> Operations:
    """Every row's :func:`otel_perf.semconv.operation`, named once per combination.

    What the rule reads: the kind and the name; of an entry span (SERVER, CONSUMER) its
    route, method and rpc attributes, and the status code only when it has neither a
    route nor an rpc method; of an exit span (CLIENT, PRODUCER) the string attributes of
    ``EXIT_OPERATION_KEYS`` and the port only beside a server address. A combination
    whose values were named before (``memo``, :data:`MEMO` by default) is not named again.
    """
    parts, tags, others = _rule_reads(columns, spans)
    first, combination = group_rows(parts)
    if NATIVE_GROUPS:
        keys = _groups.keys(tuple(parts), tags, first, columns.strings, others)
    else:
        keys = combination_keys(parts, tags, first, columns.strings, others)
    found = (MEMO if memo is None else memo).recall(keys, spans, first)
    names = tuple(dict.fromkeys(found))
    at = {name: i for i, name in enumerate(names)}
    per_group = np.fromiter(map(at.__getitem__, found), np.int32, len(found))
    return Operations(names, per_group[combination], combination, first)


def _rule_reads(
    columns: SpanColumns, spans: Sequence[SpanRecord]
) -> tuple[list[NDArray[np.integer]], tuple[int | None, ...], list[tuple[type, str]]]:
    """The id columns the rule reads, each row's ids where it may read them; their tags
    (None for the kind, which is a value itself); and the values that are not strings,
    by code (-3 is the first). Masked in one pass in C (:data:`NATIVE_GROUPS`), else
    by :func:`masked_reads`."""
    attrs = columns.attributes
    reads = [(tag, read) for tag, read in enumerate(READS, 1) if read[0] in attrs]
    if NATIVE_GROUPS:
        name, kept, flags = _masked_reads_native(columns, [read for _, read in reads])
    else:
        (name, kept), flags = masked_reads(columns, [read for _, read in reads]), None
    # a routed entry span is named by its route, not its name (which may hold raw ids)
    parts: list[NDArray[np.integer]] = [columns.kind, name]
    tags: list[int | None] = [None, 0]
    book: dict[tuple[type, str], int] = {}
    if flags is None or any(flag > 1 for flag in flags):  # values that are not strings
        book = _code_others(kept, [read for _, read in reads], spans)
        flags = (kept != NONE).any(axis=1).tolist()
    for (tag, _), used, codes in zip(reads, flags, kept, strict=True):
        if used & 1:
            parts.append(codes)
            tags.append(tag)
    return parts, tuple(tags), list(book)


def masked_reads(columns: SpanColumns, reads: Sequence[tuple[str, int, bool]]) -> tuple[I32, I32]:
    """The name column, -1 for routed entry spans; per read (a row), its column where its
    mask of :func:`_read_masks` holds, else -1."""
    kind = columns.kind.view(np.uint8)
    masks, routed = _read_masks(columns, _ENTRY[kind], _EXIT[kind])
    name = np.where(routed, NONE, columns.name).astype(np.int32)
    if not reads:
        return name, np.zeros((0, len(columns)), np.int32)
    ids = np.stack([columns.attributes[key] for key, _, _ in reads])
    kept = np.where(masks[[mask for _, mask, _ in reads]], ids, NONE).astype(np.int32)
    return name, kept


def _masked_reads_native(
    columns: SpanColumns, reads: Sequence[tuple[str, int, bool]]
) -> tuple[I32, I32, list[int]]:
    """:func:`masked_reads` in C, with per read 1 when it kept an id, plus 2 for OTHER."""
    attrs, rows = columns.attributes, len(columns)
    name, kept = np.empty(rows, np.int32), np.empty((len(reads), rows), np.int32)
    decide = tuple(attrs.get(key) for key in ROUTED_KEYS)
    picked = tuple((attrs[key], mask) for key, mask, _ in reads)
    flags = _groups.reads(
        columns.kind, columns.name, nonempty_ids(columns), decide, picked, name, kept
    )
    return name, kept, flags


def _read_masks(
    columns: SpanColumns, entry: NDArray[np.bool_], exits: NDArray[np.bool_]
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Per mask of :data:`READS` (a row), where the rule may read its keys; and the routed
    entry spans. Paths only matter without a route template; full URLs only without a
    route or without a host named otherwise; the port only beside a server address."""
    filled = _nonempty_of(columns, ROUTED_KEYS)
    route, rpc, template, *hosts = (filled.get(key) for key in ROUTED_KEYS)
    routed = entry & _any([route, rpc], entry)
    exit_routed = exits & _any([template, route], exits)
    hosted = _any(hosts, exits)
    addressed = exits & _any(hosts[:1], exits)
    masks = [entry, entry & ~routed, exits, exits & ~exit_routed]
    masks += [exits & ~(exit_routed & hosted), addressed]
    return np.stack(masks), routed


def _code_others(
    kept: NDArray[np.int32], reads: Sequence[tuple[str, int, bool]], spans: Sequence[SpanRecord]
) -> dict[tuple[type, str], int]:
    """Values that are not strings (``OTHER`` in ``kept``): absent for the reads of strings
    only, else a code (-3 and down) by type and ``repr`` (as :func:`value_codes`)."""
    book: dict[tuple[type, str], int] = {}
    other = kept == OTHER
    if not other.any():
        return book
    for read, row in zip(*(axis.tolist() for axis in np.nonzero(other)), strict=True):
        key, _, others = reads[read]
        if not others:
            kept[read, row] = NONE
            continue
        value = spans[row].attributes.get(key)
        kept[read, row] = book.setdefault((type(value), repr(value)), FIRST_VALUE_CODE - len(book))
    return book


def combination_keys(
    parts: Sequence[NDArray[np.integer]],
    tags: tuple[int | None, ...],
    first: I32,
    strings: Sequence[str],
    others: Sequence[object],
) -> list[tuple[object, ...]]:
    """Per row of ``first``, the values its ids stand for, as a tuple: each part tagged
    None as an int, first; then each other part's tag and value (``strings[id]``, or
    ``others[-3 - id]`` for a code) where its id is not -1 (absent). ``_groups.keys``
    does the same in C (:func:`operations` uses it when :data:`NATIVE_GROUPS`)."""
    raw = [p for p, tag in enumerate(tags) if tag is None]
    tagged = [p for p, tag in enumerate(tags) if tag is not None]
    rows = [part[first].tolist() for part in parts]
    keys = []
    for i in range(len(first)):
        key: list[object] = [rows[p][i] for p in raw]
        for p in tagged:
            if (id_ := rows[p][i]) != NONE:
                key += (tags[p], _value_of(strings, others, id_, p))
        keys.append(tuple(key))
    return keys


def _value_of(strings: Sequence[str], others: Sequence[object], id_: int, part: int) -> object:
    table, at = (strings, id_) if id_ >= 0 else (others, FIRST_VALUE_CODE - id_)
    if not 0 <= at < len(table):
        raise ValueError(f"parts[{part}]: id {id_} names no {'string' if id_ >= 0 else 'value'}")
    return table[at]


def _nonempty_of(columns: SpanColumns, keys: Sequence[str]) -> dict[str, NDArray[np.bool_]]:
    """Per key of ``keys`` the batch carries, :func:`nonempty` (absent keys are left out)."""
    ids, attrs = nonempty_ids(columns), columns.attributes
    return {key: ids[attrs[key]] for key in keys if key in attrs}


def _any(found: Sequence[NDArray[np.bool_] | None], like: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Rows true in any of ``found`` (None: in none); all false, shaped ``like``, if none."""
    present = [f for f in found if f is not None]
    if not present:
        return np.zeros_like(like)
    out = present[0]
    for more in present[1:]:
        out = out | more
    return out
