"""Self time and the critical path of a trace.

Both work on a :class:`~otel_perf.processors.bottlenecks.tracetree.TraceTree`'s
corrected windows and clip every child to its parent's window, so work that
outlives its parent (fire-and-forget tasks) counts only while the parent runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from otel_perf.processors.bottlenecks.tracetree import TraceTree, Window


class Segment(NamedTuple):
    """A stretch of the critical path spent in one span's own code."""

    span_id: bytes
    service: str
    operation: str
    start_ns: int
    end_ns: int

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


def self_times(tree: TraceTree) -> dict[bytes, int]:
    """Exclusive time of every span.

    A span's duration minus the time covered by at least one child, children
    clipped to the span's window (overlapping children count once).

    Args:
        tree: The trace.

    Returns:
        ns of self time by span id, each between 0 and the span's duration.
    """
    windows, children = tree.windows, tree.children
    out: dict[bytes, int] = {}
    for span_id in tree.spans:
        start, end = windows[span_id]
        kids = children[span_id]
        # a leaf's self time is its whole duration: skip the union of no children
        out[span_id] = end - start - _covered_ns(kids, windows, start, end) if kids else end - start
    return out


def critical_path(tree: TraceTree, root: bytes) -> list[Segment]:
    """The chain of work that set the end-to-end latency of ``root``.

    Walking back from the root's end, the child that finished last before the
    cursor is on the path; the time from its end to the cursor is the parent's
    own; the walk descends into that child, then resumes at the child's start
    with the children that ended by then. Children overlapping the chosen one
    (a gather's faster members) drop out. Ties on end time go to the longer
    child, then to the smaller span id, so equal inputs give equal paths.

    Args:
        tree: The trace.
        root: The span whose latency is explained (usually ``tree.main_root()``).

    Returns:
        Segments in time order, contiguous, covering the root's window exactly;
        zero-length stretches are left out (a zero-length root gives one empty
        segment), and consecutive stretches of one span are merged.
    """
    backwards: list[Segment] = []
    for span_id, start_ns, end_ns in _walk_back(tree, root):
        _emit(backwards, tree, span_id, start_ns, end_ns)
    backwards.reverse()
    start, end = tree.windows[root]
    return backwards or [_segment(tree, root, start, end)]


def path_shares(tree: TraceTree, root: bytes) -> dict[tuple[str, str], int]:
    """ns per (service, operation) on ``critical_path(tree, root)``, keys in path order.

    Operations are the tree's (:attr:`TraceTree.operations`), not raw span names.

    The same sums without building the segments (this runs for every trace).
    """
    spans, operations = tree.spans, tree.operations
    stretches = _walk_back(tree, root)
    if not stretches:
        start, end = tree.windows[root]
        return {(spans[root].resource.service_name, operations[root]): end - start}
    shares: dict[tuple[str, str], int] = {}
    for span_id, start, end in reversed(stretches):
        key = (spans[span_id].resource.service_name, operations[span_id])
        shares[key] = shares.get(key, 0) + end - start
    return shares


def _walk_back(tree: TraceTree, root: bytes) -> list[tuple[bytes, int, int]]:
    """The critical path's stretches of own work as (span id, start, end), latest first.

    Zero-length stretches are left out; consecutive stretches of one span are not merged.
    """
    out: list[tuple[bytes, int, int]] = []
    children = tree.children
    stack = [_Frame.of(tree, root, tree.windows[root])]
    while stack:
        frame = stack[-1]
        child = frame.next_child()
        if child is None:
            if frame.cursor_ns > frame.start_ns:
                out.append((frame.span_id, frame.start_ns, frame.cursor_ns))
            stack.pop()
            continue
        child_id, window = child
        if frame.cursor_ns > window[1]:
            out.append((frame.span_id, window[1], frame.cursor_ns))
        frame.cursor_ns = window[0]
        if children[child_id]:
            stack.append(_Frame.of(tree, child_id, window))
        elif window[1] > window[0]:  # a leaf is its own work from start to end
            out.append((child_id, window[0], window[1]))
    return out


def critical_path_shares(tree: TraceTree) -> dict[tuple[str, str], int]:
    """ns of critical-path time per (service, operation) for the trace.

    Measured on :meth:`TraceTree.main_root`, so the values add up to that
    root's duration; detached orphan subtrees are left out because where they
    sat on the timeline is unknown.

    Args:
        tree: The trace.

    Returns:
        Critical-path ns by (service name, span name); empty for an empty tree.
    """
    root = tree.main_root()
    shares: dict[tuple[str, str], int] = {}
    for segment in [] if root is None else critical_path(tree, root):
        key = (segment.service, segment.operation)
        shares[key] = shares.get(key, 0) + segment.duration_ns
    return shares


@dataclass(slots=True)
class _Frame:
    """A span being walked back: its window start, the cursor, its children."""

    span_id: bytes
    start_ns: int
    cursor_ns: int
    pending: list[tuple[int, int, bytes]]  # (-end, start, id): latest end, longest first
    index: int = 0

    @classmethod
    def of(cls, tree: TraceTree, span_id: bytes, window: Window) -> _Frame:
        low, high = window
        windows = tree.windows
        pending = []
        for child in tree.children[span_id]:
            # clip(windows[child], window), written out: this runs for every span
            start, end = windows[child]
            start = start if start > low else low
            start = start if start < high else high
            end = end if end > start else start
            end = end if end < high else high
            pending.append((-end, start, child))
        pending.sort()
        return cls(span_id, low, high, pending)

    def next_child(self) -> tuple[bytes, Window] | None:
        # The cursor only moves back, so a child skipped once never qualifies later.
        while self.index < len(self.pending):
            neg_end, start, child = self.pending[self.index]
            self.index += 1
            if -neg_end <= self.cursor_ns:
                return child, (start, -neg_end)
        return None


def _emit(backwards: list[Segment], tree: TraceTree, span_id: bytes, start: int, end: int) -> None:
    if end <= start:
        return
    last = backwards[-1] if backwards else None
    if last is not None and last.span_id == span_id and last.start_ns == end:
        backwards[-1] = last._replace(start_ns=start)
    else:
        backwards.append(_segment(tree, span_id, start, end))


def _segment(tree: TraceTree, span_id: bytes, start: int, end: int) -> Segment:
    span = tree.spans[span_id]
    return Segment(span_id, span.service_name, tree.operations[span_id], start, end)


def _covered_ns(kids: Iterable[bytes], windows: Mapping[bytes, Window], low: int, high: int) -> int:
    """Length of the union of the ``kids``' windows clipped to ``[low, high]``.

    Children are ordered by start and clipping keeps that order, as the sweep needs.
    """
    total = 0
    reach: int | None = None
    for kid in kids:
        # clip(windows[kid], (low, high)), written out: this runs for every span
        start, end = windows[kid]
        start = start if start > low else low
        start = start if start < high else high
        end = end if end > start else start
        end = end if end < high else high
        begin = start if reach is None else max(start, reach)
        total += max(end - begin, 0)
        reach = end if reach is None else max(reach, end)
    return total
