"""One trace as a tree: children in start order, orphans as roots, clock skew corrected.

Spans of one trace arrive from several services whose clocks disagree. The tree
keeps the spans untouched and adds a corrected window per span:

* A span on the same clock as its parent (same ``service.name``,
  ``service.instance.id`` and ``host.name``) keeps its own timing, shifted by
  whatever correction its parent's clock got. It may legitimately start before
  or end after its parent (fire-and-forget work); the analyses clip it.
* A span on another clock under a synchronous call (anything but messaging:
  the parent is not a PRODUCER and the child not a CONSUMER) that lies outside
  its parent's window is skewed. It is centred in the parent's window, assuming
  the network took as long each way (the rule Jaeger's adjuster uses): when its
  duration fits, that shift puts it inside; when it is longer than the parent,
  it is then clipped to the parent's window. Its same-clock descendants get the
  same shift.
* Messaging consumers run after their producer by design and are left alone.

Framework-internal spans (the ASGI middleware's ``http send`` / ``http receive``) are
folded away: their time becomes their parent's own, their children (if any) the
parent's. Every span gets its operation name (:func:`otel_perf.semconv.operation`).

Building is O(n log n): one pass to group, a sort of every child list.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from otel_perf.model import SpanKind, SpanRecord
from otel_perf.semconv import is_framework_internal, kept_operation

Window = tuple[int, int]
"""(start_ns, end_ns) with end_ns >= start_ns."""
_INTERNAL = int(SpanKind.INTERNAL)


@dataclass(frozen=True, slots=True)
class TraceTree:
    """The spans of one trace arranged as a forest.

    Attributes:
        spans: Every span by id; when an id repeats, the first record wins.
        children: Child ids of every span (``()`` for leaves), ordered by
            corrected start, then span id.
        roots: Spans without a parent in this trace, in the same order.
        orphans: The roots whose parent never arrived (or that closed a cycle).
        windows: The corrected (start_ns, end_ns) of every span.
        operations: The operation every span is counted under.
    """

    spans: Mapping[bytes, SpanRecord]
    children: Mapping[bytes, tuple[bytes, ...]]
    roots: tuple[bytes, ...]
    orphans: frozenset[bytes]
    windows: Mapping[bytes, Window]
    operations: Mapping[bytes, str]

    def start_ns(self, span_id: bytes) -> int:
        """Corrected start of a span."""
        return self.windows[span_id][0]

    def end_ns(self, span_id: bytes) -> int:
        """Corrected end of a span."""
        return self.windows[span_id][1]

    def duration_ns(self, span_id: bytes) -> int:
        """Duration of a span (never negative)."""
        start, end = self.windows[span_id]
        return end - start

    def walk(self) -> Iterator[bytes]:
        """Every span id, depth first, parents before children, roots in order."""
        stack = list(reversed(self.roots))
        while stack:
            span_id = stack.pop()
            yield span_id
            stack.extend(reversed(self.children[span_id]))

    def main_root(self) -> bytes | None:
        """The root that stands for the whole trace, None for an empty tree.

        A true root beats an orphan; among equals the longest wins, then the
        earliest, then the smallest id.
        """
        if not self.roots:
            return None
        if len(self.roots) == 1:
            return self.roots[0]
        return min(
            self.roots,
            key=lambda r: (r in self.orphans, -self.duration_ns(r), self.start_ns(r), r),
        )


def build_tree(spans: Iterable[SpanRecord]) -> TraceTree:
    """Arrange the spans of one trace as a tree with corrected windows.

    Args:
        spans: The spans of one trace, in any order; they are not modified.

    Returns:
        The tree; spans whose parent is missing become roots and are listed in
        ``orphans``. Malformed parent links that form a cycle are cut above the
        smallest span id on the cycle, which becomes an orphan root.
    """
    by_id: dict[bytes, SpanRecord] = {}
    operations: dict[bytes, str] = {}  # refolding keeps kind, name and attributes
    folded: dict[bytes, bytes] = {}  # framework-internal span -> its parent
    for span in spans:
        span_id = span.span_id
        # only INTERNAL spans can be framework-internal: most spans skip the call
        if span.kind == _INTERNAL and is_framework_internal(span):
            folded.setdefault(span_id, span.parent_span_id)
        elif span_id not in by_id:
            by_id[span_id] = span
            operations[span_id] = kept_operation(span) or span.name
    if folded:
        by_id = _fold(by_id, folded)
    kids, roots, orphans = _link(by_id)
    # Spans under a parent cycle are the ones correcting from the roots never reaches
    # (usually none, so no separate reachability pass); cut roots are corrected after.
    windows = _correct(by_id, kids, roots)
    if len(windows) < len(by_id):
        cuts = _break_cycles(by_id, kids, roots, orphans, set(windows))
        windows.update(_correct(by_id, kids, cuts))

    def order(ids: list[bytes]) -> tuple[bytes, ...]:
        if len(ids) < 2:  # most spans are leaves or only children: nothing to sort
            return tuple(ids)
        return tuple(sorted(ids, key=lambda s: (windows[s][0], s)))

    return TraceTree(
        spans=by_id,
        # most spans are leaves or only children: no call to order them
        children={
            span_id: order(ids) if len(ids) > 1 else (*ids,) for span_id, ids in kids.items()
        },
        roots=order(roots),
        orphans=frozenset(orphans),
        windows=windows,
        operations=operations,
    )


def _fold(by_id: dict[bytes, SpanRecord], folded: Mapping[bytes, bytes]) -> dict[bytes, SpanRecord]:
    """Children of folded spans hang from the nearest ancestor that is kept (copies)."""
    out: dict[bytes, SpanRecord] = {}
    for span_id, span in by_id.items():
        parent, seen = span.parent_span_id, 0
        while parent in folded and seen <= len(folded):  # bounded: a cycle of folded spans
            parent, seen = folded[parent], seen + 1
        out[span_id] = span if parent == span.parent_span_id else _reparented(span, parent)
    return out


def _reparented(span: SpanRecord, parent: bytes) -> SpanRecord:
    return SpanRecord(
        span.trace_id,
        span.span_id,
        parent,
        span.resource,
        span.scope_name,
        span.name,
        span.kind,
        span.start_ns,
        span.end_ns,
        span.status_code,
        span.status_message,
        span.attributes,
        span.events,
    )


def clip(window: Window, bounds: Window) -> Window:
    """The part of ``window`` inside ``bounds``, squeezed to an edge when disjoint."""
    start = min(max(window[0], bounds[0]), bounds[1])
    return start, min(max(window[1], start), bounds[1])


def _link(
    by_id: Mapping[bytes, SpanRecord],
) -> tuple[dict[bytes, list[bytes]], list[bytes], set[bytes]]:
    kids: dict[bytes, list[bytes]] = {span_id: [] for span_id in by_id}
    roots: list[bytes] = []
    orphans: set[bytes] = set()
    for span_id, span in by_id.items():
        parent = span.parent_span_id
        if parent in kids:
            kids[parent].append(span_id)
            continue
        roots.append(span_id)
        if parent:
            orphans.add(span_id)
    return kids, roots, orphans


def _break_cycles(
    by_id: Mapping[bytes, SpanRecord],
    kids: dict[bytes, list[bytes]],
    roots: list[bytes],
    orphans: set[bytes],
    seen: set[bytes],
) -> list[bytes]:
    """Cut every parent cycle; ``seen`` holds the spans the roots reach. Returns the cuts."""
    # Spans no root reaches sit on (or under) a parent cycle; sorted so the cut is stable.
    cuts: list[bytes] = []
    for span_id in sorted(set(by_id) - seen):
        if span_id in seen:
            continue
        cut = min(_cycle_above(by_id, span_id))
        kids[by_id[cut].parent_span_id].remove(cut)
        roots.append(cut)
        orphans.add(cut)
        cuts.append(cut)
        seen |= _reachable(kids, [cut])
    return cuts


def _cycle_above(by_id: Mapping[bytes, SpanRecord], span_id: bytes) -> list[bytes]:
    # Every parent exists and none leads to a root, so going up must come round.
    path: list[bytes] = []
    index: dict[bytes, int] = {}
    while span_id not in index:
        index[span_id] = len(path)
        path.append(span_id)
        span_id = by_id[span_id].parent_span_id
    return path[index[span_id] :]


def _reachable(kids: Mapping[bytes, list[bytes]], starts: Iterable[bytes]) -> set[bytes]:
    seen: set[bytes] = set()
    stack = list(starts)
    while stack:
        span_id = stack.pop()
        seen.add(span_id)
        stack.extend(kids[span_id])
    return seen


def _correct(
    by_id: Mapping[bytes, SpanRecord],
    kids: Mapping[bytes, list[bytes]],
    roots: Iterable[bytes],
) -> dict[bytes, Window]:
    # Top down, because a child is placed relative to its parent's corrected window.
    windows: dict[bytes, Window] = {}
    stack = [(root, _shift(by_id[root], 0), 0) for root in roots]
    while stack:
        span_id, window, offset = stack.pop()
        windows[span_id] = window
        parent = by_id[span_id]
        resource = parent.resource
        for child in kids[span_id]:
            span = by_id[child]
            if span.resource is resource:  # same clock: _place's first case, written out
                start, end = span.start_ns, span.end_ns
                end = end if end > start else start
                stack.append((child, (start + offset, end + offset), offset))
            else:
                stack.append((child, *_place(parent, span, window, offset)))
    return windows


def _place(
    parent: SpanRecord, child: SpanRecord, parent_window: Window, parent_offset: int
) -> tuple[Window, int]:
    """The child's corrected window and the clock offset its descendants inherit."""
    # spans of one resource share its clock: skip building the clock tuples for them
    if child.resource is parent.resource or _clock(child) == _clock(parent):
        return _shift(child, parent_offset), parent_offset
    raw = _shift(child, 0)
    if _is_messaging(parent, child) or clip(raw, parent_window) == raw:
        return raw, 0
    parent_ns = parent_window[1] - parent_window[0]
    offset = parent_window[0] + (parent_ns - (raw[1] - raw[0])) // 2 - raw[0]
    return clip(_shift(child, offset), parent_window), offset


def _shift(span: SpanRecord, offset_ns: int) -> Window:
    # A span that ends before it starts is bad data; read it as zero-length.
    return span.start_ns + offset_ns, max(span.end_ns, span.start_ns) + offset_ns


def _clock(span: SpanRecord) -> tuple[str, str, str]:
    attrs = span.resource.attributes
    return (
        span.service_name,
        str(attrs.get("service.instance.id", "")),
        str(attrs.get("host.name", "")),
    )


def _is_messaging(parent: SpanRecord, child: SpanRecord) -> bool:
    return parent.kind == SpanKind.PRODUCER or child.kind == SpanKind.CONSUMER
