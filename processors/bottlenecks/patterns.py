"""Wasteful call patterns among a span's children: N+1 loops, repeats, serial independent calls.

A call is a CLIENT child span with a key: the SQL fingerprint of a DB span
(its name when the statement is not recorded) or the HTTP call key of an HTTP
client span. Patterns are looked for among the children of each span
separately; durations are the tree's corrected windows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise

from otel_perf.model import SpanKind, SpanRecord
from otel_perf.processors.bottlenecks.fingerprint import (
    db_statement,
    db_system,
    fingerprint,
    http_call_key,
)
from otel_perf.processors.bottlenecks.tracetree import TraceTree

MS = 1_000_000
DEFAULT_TOLERANCE_NS = 1 * MS
"""Slack when deciding that a call started after the previous one ended."""


class PatternKind(StrEnum):
    """The call patterns detected."""

    N_PLUS_ONE = "n_plus_one"
    CONCURRENT_REPEAT = "concurrent_repeat"
    CONSECUTIVE = "consecutive"


@dataclass(frozen=True, slots=True)
class Pattern:
    """Calls under one parent that could be batched or run in parallel.

    Attributes:
        kind: What was found.
        parent_span_id: The span issuing the calls.
        service: The parent's service.
        operation: The parent's operation.
        fingerprints: The call keys: one for repeats, one per call for ``consecutive``.
        count: Number of calls.
        total_ns: Sum of the calls' durations.
        saveable_ns: ``total_ns`` minus the longest call: what batching them
            (or running them in parallel) would save, roughly. For
            ``concurrent_repeat`` it is work the database does for nothing
            rather than latency.
        span_ids: The calls, in start order.
    """

    kind: PatternKind
    parent_span_id: bytes
    service: str
    operation: str
    fingerprints: tuple[str, ...]
    count: int
    total_ns: int
    saveable_ns: int
    span_ids: tuple[bytes, ...]

    @property
    def fingerprint(self) -> str:
        """The fingerprints as one string (`` ; `` between the members of a run)."""
        return " ; ".join(self.fingerprints)


@dataclass(frozen=True, slots=True)
class _Call:
    span_id: bytes
    key: str
    start_ns: int
    end_ns: int

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


def call_key(span: SpanRecord) -> str | None:
    """The key that makes two client calls "the same call", None for other spans.

    Args:
        span: Any span.

    Returns:
        The statement's fingerprint for a DB CLIENT span (its name when no
        statement is recorded), the HTTP call key for an HTTP CLIENT span,
        else None.
    """
    if span.kind != SpanKind.CLIENT:
        return None
    statement = db_statement(span.attributes)
    key: str | None
    if statement is not None:
        key = fingerprint(statement)
    elif db_system(span.attributes) is not None:
        key = span.name
    else:
        key = http_call_key(span.attributes, span.name)
    return key


def n_plus_one(
    tree: TraceTree,
    min_count: int = 5,
    min_total_ns: int = 50 * MS,
    tolerance_ns: int = DEFAULT_TOLERANCE_NS,
) -> list[Pattern]:
    """Calls with one key repeated under one parent.

    At least ``min_count`` calls with the same key under one parent, together
    lasting at least ``min_total_ns``. They are an ``n_plus_one`` when issued
    one after another (each starts at or after the previous one ends, within
    ``tolerance_ns``) and a ``concurrent_repeat`` when they overlap (a gather
    of identical queries). When only some overlap, the majority of the
    neighbouring pairs decides and a tie counts as sequential: a loop with a
    bit of concurrency is still a loop to batch.

    Args:
        tree: The trace.
        min_count: Fewest repeats reported.
        min_total_ns: Least total duration reported.
        tolerance_ns: Overlap still read as "after".

    Returns:
        The patterns, parents in tree order, then keys in order of first call.
    """
    found: list[Pattern] = []
    if max(map(len, tree.children.values()), default=0) < min_count:
        return found  # the usual case: no span has that many children, skip the walk
    for parent in tree.walk():
        if len(tree.children[parent]) < min_count:
            continue  # most spans are leaves or have a few children: nothing to group
        groups: dict[str, list[_Call]] = {}
        for call in _calls(tree, parent):
            groups.setdefault(call.key, []).append(call)
        for group in groups.values():
            total = sum(c.duration_ns for c in group)
            if len(group) >= min_count and total >= min_total_ns:
                kind = _repeat_kind(group, tolerance_ns)
                found.append(_pattern(tree, kind, parent, group, (group[0].key,)))
    return found


def consecutive_parallelizable(
    tree: TraceTree,
    min_saveable_ns: int = 100 * MS,
    tolerance_ns: int = DEFAULT_TOLERANCE_NS,
) -> list[Pattern]:
    """Different calls made one after another that could have run together.

    A run is a stretch of a parent's children (in start order) that are all
    calls, each starting after the previous one ended (within
    ``tolerance_ns``), with no key twice. Any other child, an overlap or a
    repeated key ends the run (repeats are :func:`n_plus_one`'s business).
    Runs of two or more calls are reported when running them in parallel
    would save at least ``min_saveable_ns``. Whether a call needs the
    previous one's result cannot be seen in a trace: these are candidates.

    Args:
        tree: The trace.
        min_saveable_ns: Least saving reported.
        tolerance_ns: Overlap still read as "after".

    Returns:
        ``consecutive`` patterns, parents in tree order, then runs in time order.
    """
    found: list[Pattern] = []
    for parent in tree.walk():
        children = tree.children[parent]
        if len(children) < 2 or not _may_save(tree, children, min_saveable_ns):
            continue
        for run in _runs(tree, parent, tolerance_ns):
            if len(run) < 2:
                continue
            keys = tuple(c.key for c in run)
            pattern = _pattern(tree, PatternKind.CONSECUTIVE, parent, run, keys)
            if pattern.saveable_ns >= min_saveable_ns:
                found.append(pattern)
    return found


def _may_save(tree: TraceTree, children: tuple[bytes, ...], min_saveable_ns: int) -> bool:
    """Whether some run of these children could save ``min_saveable_ns``.

    A run holds only calls (CLIENT spans), and its saving (its total less its longest
    call) is never more than that of all the CLIENT children together: when that falls
    short, no run can qualify and no call key needs computing.
    """
    spans, windows = tree.spans, tree.windows
    durations = [
        windows[c][1] - windows[c][0] for c in children if spans[c].kind == SpanKind.CLIENT
    ]
    return len(durations) >= 2 and sum(durations) - max(durations) >= min_saveable_ns


def _call(tree: TraceTree, span_id: bytes) -> _Call | None:
    key = call_key(tree.spans[span_id])
    if key is None:
        return None
    start, end = tree.windows[span_id]
    return _Call(span_id, key, start, end)


def _calls(tree: TraceTree, parent: bytes) -> Iterator[_Call]:
    for child in tree.children[parent]:
        call = _call(tree, child)
        if call is not None:
            yield call


def _runs(tree: TraceTree, parent: bytes, tolerance_ns: int) -> Iterator[list[_Call]]:
    run: list[_Call] = []
    keys: set[str] = set()
    for child in tree.children[parent]:
        call = _call(tree, child)
        overlaps = bool(run) and call is not None and call.start_ns < run[-1].end_ns - tolerance_ns
        if call is None or call.key in keys or overlaps:
            yield run
            run, keys = [], set()
        if call is not None:
            run.append(call)
            keys.add(call.key)
    yield run


def _repeat_kind(group: list[_Call], tolerance_ns: int) -> PatternKind:
    pairs = list(pairwise(group))
    after = sum(b.start_ns >= a.end_ns - tolerance_ns for a, b in pairs)
    sequential = 2 * after >= len(pairs)
    return PatternKind.N_PLUS_ONE if sequential else PatternKind.CONCURRENT_REPEAT


def _pattern(
    tree: TraceTree,
    kind: PatternKind,
    parent: bytes,
    calls: list[_Call],
    keys: tuple[str, ...],
) -> Pattern:
    span = tree.spans[parent]
    total = sum(c.duration_ns for c in calls)
    return Pattern(
        kind=kind,
        parent_span_id=parent,
        service=span.service_name,
        operation=tree.operations[parent],
        fingerprints=keys,
        count=len(calls),
        total_ns=total,
        saveable_ns=total - max((c.duration_ns for c in calls), default=0),
        span_ids=tuple(c.span_id for c in calls),
    )
