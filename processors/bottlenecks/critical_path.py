"""Self time and the critical path of a trace.

Both work on a :class:`~otel_perf.processors.bottlenecks.tracetree.TraceTree`'s
corrected windows and clip every child to its parent's window, so work that
outlives its parent (fire-and-forget tasks) counts only while the parent runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
    children, windows = tree.children, tree.windows
    low, high = windows[root]
    # frames: (span id, window start, cursor, pending children, index of the next one);
    # plain tuples, not objects, because this runs for every span of every trace
    stack = [(root, low, high, _pending(children[root], windows, low, high), 0)]
    while stack:
        span_id, start_ns, cursor, pending, index = stack[-1]
        # The cursor only moves back, so a child skipped once never qualifies later.
        for i in range(index, len(pending)):
            neg_end, child_start, child = pending[i]
            if -neg_end <= cursor:
                break
        else:
            if cursor > start_ns:
                out.append((span_id, start_ns, cursor))
            stack.pop()
            continue
        child_end = -neg_end
        if cursor > child_end:
            out.append((span_id, child_end, cursor))
        stack[-1] = (span_id, start_ns, child_start, pending, i + 1)
        kids = children[child]
        if kids:
            pending = _pending(kids, windows, child_start, child_end)
            stack.append((child, child_start, child_end, pending, 0))
        elif child_end > child_start:  # a leaf is its own work from start to end
            out.append((child, child_start, child_end))
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


def _pending(
    kids: Iterable[bytes], windows: Mapping[bytes, Window], low: int, high: int
) -> list[tuple[int, int, bytes]]:
    """The ``kids`` clipped to ``[low, high]`` as (-end, start, id): latest end, longest first."""
    pending = []
    for child in kids:
        # clip(windows[child], (low, high)), written out: this runs for every span
        start, end = windows[child]
        start = start if start > low else low
        start = start if start < high else high
        end = end if end > start else start
        end = end if end < high else high
        pending.append((-end, start, child))
    pending.sort()
    return pending


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


def _shares(path: list[Segment]) -> dict[tuple[str, str], int]:
    shares: dict[tuple[str, str], int] = {}
    for segment in path:
        key = (segment.service, segment.operation)
        shares[key] = shares.get(key, 0) + segment.duration_ns
    return shares


def summarise(path: list[Segment], top: int = 5) -> list[dict[str, object]]:
    """The critical path's largest contributors, for a person reading a finding."""
    shares = _shares(path)
    total = sum(shares.values()) or 1
    ranked = sorted(shares.items(), key=lambda kv: -kv[1])[:top]
    return [
        {"service": s, "operation": o, "ms": round(ns / 1e6, 3), "share": round(ns / total, 4)}
        for (s, o), ns in ranked
    ]
