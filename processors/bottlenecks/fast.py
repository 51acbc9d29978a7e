"""Many complete traces at once: the tree work on columns, in C, for the common trace.

:meth:`Analyser.add_trace <otel_perf.processors.bottlenecks.analyse.Analyser.add_trace>`
is the specification: it builds a :class:`TraceTree` per trace and walks it in Python.
:func:`add_traces` gives the window what calling it on each trace in turn gives, for a
fraction of the cost:

1. The traces' columns, read when their spans arrived (``held.py``, ``completed.py``),
   go through a column-level pre-pass (``trace_columns.py``) that sends the few traces
   whose tree would differ from their raw spans to the Python tree; the others get
   self time, critical-path time per span and per operation from C.
2. The window's per-operation and per-entry figures are updated with grouped numpy
   sums, one update per operation rather than per span (``grouped.py``): each bounded
   map takes new keys in the order the traces would have brought them, and an exemplar
   offer is made only when it can still matter.
3. Slow requests are counted per route in one step; only requests past the threshold,
   spans with checkpoints or memory figures, and DB calls are handled one by one.
4. The pattern search runs on a tree only where the columns say a pattern is possible
   (a parent with ``n_plus_one_min_count`` children, or CLIENT children that together
   could save ``parallel_min_saveable``: what the searches check before anything else).

Each of the window's maps is updated by one of these steps, in trace order, so every
map sees its updates in the order ``add_trace`` would make them. (The exemplar heaps
end up holding the same trace ids; their internal list order may differ.)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from otel_perf.model import SpanKind, SpanRecord
from otel_perf.processors.bottlenecks import grouped
from otel_perf.processors.bottlenecks.aggregate import (
    MAX_ENTRY_SHARES,
    NS,
    EntryStats,
    Exemplars,
    OpKey,
    OpStats,
    SlowStats,
    Window,
)
from otel_perf.processors.bottlenecks.completed import Completed
from otel_perf.processors.bottlenecks.critical_path import critical_path, summarise
from otel_perf.processors.bottlenecks.held import EVENTS, MEMORY, STATEMENT
from otel_perf.processors.bottlenecks.memory import DELTA, RSS_END
from otel_perf.processors.bottlenecks.trace_columns import (
    BUILT,
    I64,
    Contributions,
    TraceColumns,
)
from otel_perf.processors.bottlenecks.tracetree import TraceTree, build_tree

if TYPE_CHECKING:
    from otel_perf.processors.bottlenecks.analyse import Analyser

NATIVE = BUILT and os.environ.get("OTEL_PERF_NATIVE_TREE", "1") != "0"
"""Whether :func:`add_traces` is used (set ``OTEL_PERF_NATIVE_TREE=0`` to turn it off)."""

_SERVER, _CLIENT = int(SpanKind.SERVER), int(SpanKind.CLIENT)


class Items:
    """Spans of one kind in trace order: trace, key and duration per span as arrays;
    ``span(i)`` reads the i-th one's record, ``marked`` lists those carrying something
    to read one by one."""

    def __init__(
        self,
        trace: I64,
        key: I64,
        duration: I64,
        ref: I64,
        records: list[SpanRecord],
        spans: Sequence[SpanRecord],
    ) -> None:
        self.trace, self.key, self.duration = trace, key, duration
        self._ref, self._records, self._spans = ref, records, spans
        self.marked: list[int] = []

    def __len__(self) -> int:
        return len(self.trace)

    def span(self, i: int) -> SpanRecord:
        """A row's record (``ref`` >= 0), or one read from a tree (-1 - index)."""
        ref = int(self._ref[i])
        return self._spans[ref] if ref >= 0 else self._records[-1 - ref]

    def row(self, i: int) -> int:
        """The span's row in the columns, -1 for a span read from a tree."""
        return int(self._ref[i])


def add_traces(
    analyser: Analyser, window: Window, traces: Completed | Sequence[list[SpanRecord]]
) -> None:
    """What ``analyser.add_trace(window, trace)`` for each trace in turn gives, at once."""
    if not len(traces):
        return
    run = _Run(analyser, window, traces)
    run.entries()
    run.operations()
    servers = run.spans(_SERVER, EVENTS | MEMORY, _server_carries)
    run.slow(servers)
    run.phases_and_memory(servers)
    run.queries(run.spans(_CLIENT, STATEMENT, _has_statement, only=True))
    run.patterns()


class _Run:
    """One call of :func:`add_traces`."""

    def __init__(
        self, analyser: Analyser, window: Window, traces: Completed | Sequence[list[SpanRecord]]
    ) -> None:
        self.analyser, self.window = analyser, window
        self.rows = Contributions(TraceColumns(traces))
        self.hexes: dict[int, str] = {}
        rows = self.rows
        window.traces += len(rows.entry_t)
        window.critical_total_ns += int(rows.entry_ns.sum())
        self.entry_of = np.full(len(traces), -1, np.int64)
        self.entry_of[rows.entry_t] = rows.entry_key
        self.names = analyser.shared(rows.names())

    def trace_id(self, t: int) -> str:
        """A trace's id in hex, made when first asked for (exemplars need few)."""
        found = self.hexes.get(t)
        if found is None:
            found = self.hexes[t] = self.rows.batch.completed.trace_id(t)
        return found

    def entry(self, t: int) -> OpKey:
        return self.names[int(self.entry_of[t])]

    def tree(self, t: int) -> TraceTree:
        b = self.rows.batch
        return self.rows.trees.get(t) or build_tree(b.spans[b.offsets[t] : b.offsets[t + 1]])

    def entries(self) -> None:
        window, rows = self.window, self.rows
        keys, durations = rows.entry_key, rows.entry_ns
        got = grouped.admit(
            window.entries, self.names, keys, lambda _: EntryStats(window.exemplar_set())
        )
        for kid, at in grouped.groups(keys, got).items():
            stats = got[kid]
            stats.traces += len(at)
            stats.total_ns += int(durations[at].sum())
            window.defer(stats.latency_s, durations[at] / NS)
        heaps = {kid: stats.exemplars for kid, stats in got.items()}
        trace = rows.entry_t
        grouped.offer(heaps, keys, durations, window.exemplars, trace, self.trace_id)
        self._shares(got)

    def _shares(self, got: dict[int, EntryStats]) -> None:
        """Each entry's operations on its critical paths (at most ``MAX_ENTRY_SHARES``)."""
        rows, size = self.rows, len(self.names)
        admitted = np.zeros(size + 1, bool)  # the last: traces without an entry (-1)
        admitted[list(got)] = True
        at = np.flatnonzero(admitted[self.entry_of[rows.share_t]])
        pair = self.entry_of[rows.share_t[at]] * size + rows.share_key[at]
        ns = rows.share_ns[at]
        sums = grouped.sums(pair, ns)
        cells: dict[int, Exemplars] = {}
        for p in grouped.first_order(pair)[0]:
            stats, op = got[p // size], self.names[p % size]
            if op in stats.shares or len(stats.shares) < MAX_ENTRY_SHARES:
                stats.shares[op] = stats.shares.get(op, 0) + sums[p]
                cell = stats.cells.get(op)
                if cell is None:
                    cell = stats.cells[op] = self.window.exemplar_set()
                cells[p] = cell
        trace = rows.share_t[at]
        grouped.offer(cells, pair, ns, self.window.exemplars, trace, self.trace_id)

    def operations(self) -> None:
        window, rows = self.window, self.rows
        every = np.concatenate([rows.self_key, rows.share_key])
        got = grouped.admit(window.ops, self.names, every, lambda _: OpStats(window.exemplar_set()))
        own = grouped.sums(rows.self_key, rows.self_ns)
        critical = grouped.sums(rows.share_key, rows.share_ns)
        counts = grouped.sums(rows.share_key, np.ones(len(rows.share_key), np.int64))
        for kid, stats in got.items():
            stats.self_ns += own.get(kid, 0)
            stats.critical_ns += critical.get(kid, 0)
            stats.traces += counts.get(kid, 0)
        heaps = {kid: stats.exemplars for kid, stats in got.items()}
        trace = rows.share_t
        grouped.offer(heaps, rows.share_key, rows.share_ns, window.exemplars, trace, self.trace_id)

    def spans(
        self,
        kind: int,
        flags: int,
        carries: Callable[[SpanRecord], bool],
        only: bool = False,
    ) -> Items:
        """The spans of one kind the analysis reads (in trees: those the tree keeps), in
        trace order. ``flags`` (``held.py``) mark the rows carrying something read one by
        one, as ``carries`` says of a tree's span: their indexes are ``Items.marked``;
        with ``only`` the others are left out."""
        rows = self.rows
        columns = rows.batch
        wanted = ~rows.irregular[columns.trace] & (columns.kind == kind)
        marked = (columns.flags & np.uint8(flags)) != 0
        found = np.flatnonzero(wanted & marked if only else wanted)
        parts = [
            columns.trace[found],
            rows.key[found],
            columns.raw_end[found] - columns.start[found],
            found.astype(np.int64),
            marked[found].astype(np.int64),
        ]
        records: list[SpanRecord] = []
        extra: list[tuple[int, int, int, int, int]] = []
        for t in rows.roots:
            tree = rows.trees[t]
            for span_id, span in tree.spans.items():
                if span.kind == kind and (not only or carries(span)):
                    k = rows.intern((span.resource.service_name, tree.operations[span_id]))
                    records.append(span)
                    duration = span.end_ns - span.start_ns
                    extra.append((t, k, duration, -len(records), int(carries(span))))
        if extra:
            more = np.array(extra, np.int64).reshape(-1, 5)
            whole = [np.concatenate([part, more[:, j]]) for j, part in enumerate(parts)]
            order = np.argsort(whole[0], kind="stable")
            parts = [part[order] for part in whole]
        trace, key, duration, ref, carried = parts
        items = Items(trace, key, duration, ref, records, columns.spans)
        items.marked = np.flatnonzero(carried).tolist()
        return items

    def slow(self, servers: Items) -> None:
        """Requests per route; the slow ones, their exemplars and the slowest one's path."""
        config, window = self.analyser.config, self.window
        keys, durations = servers.key, servers.duration

        def make(route: OpKey) -> SlowStats:
            seconds = config.slow_request_thresholds.get(route[0], config.slow_request_threshold)
            return SlowStats(int(seconds * NS), window.exemplar_set())

        got = grouped.admit(window.slow, self.names, keys, make)
        threshold = np.zeros(len(self.names), np.int64)
        counted = np.zeros(len(self.names), bool)
        for kid, at in grouped.groups(keys, got).items():
            stats = got[kid]
            stats.requests += len(at)
            window.defer(stats.latency_s, durations[at] / NS)
            threshold[kid], counted[kid] = stats.threshold_ns, True
        for i in np.flatnonzero(counted[keys] & (durations >= threshold[keys])).tolist():
            t, key = int(servers.trace[i]), int(keys[i])
            stats, duration = got[key], int(durations[i])
            stats.slow += 1
            stats.exemplars.offer(duration, self.trace_id(t))
            if duration > stats.worst_ns:
                stats.worst_ns = duration
                span = servers.span(i)
                stats.worst_path = summarise(critical_path(self.tree(t), span.span_id))

    def phases_and_memory(self, servers: Items) -> None:
        """Checkpoint phases and memory growth of the server spans that carry them."""
        analyser, window, names = self.analyser, self.window, self.names
        for i in servers.marked:
            span, key = servers.span(i), names[int(servers.key[i])]
            if span.events:
                analyser._phases(window, span, key)
            attrs = span.attributes
            if DELTA in attrs or RSS_END in attrs:
                analyser._memory(window, span, key)

    def queries(self, clients: Items) -> None:
        columns, trees = self.rows.batch, self.rows.trees
        for i in range(len(clients)):
            t, span = int(clients.trace[i]), clients.span(i)
            if not _has_statement(span):  # marked when its attributes are not a dict
                continue
            row = clients.row(i)
            if row >= 0:
                duration = int(columns.end[row] - columns.start[row])
            else:
                duration = trees[t].duration_ns(span.span_id)
            operation = self.names[int(clients.key[i])][1]
            self.analyser.query(
                self.window, span, operation, duration, self.entry(t), self.trace_id(t)
            )

    def patterns(self) -> None:
        """The pattern search, on the traces where a pattern is possible."""
        analyser, window = self.analyser, self.window
        possible = set(np.flatnonzero(self._possible()).tolist()) | set(self.rows.roots)
        for t in sorted(possible):
            tree = self.tree(t)
            for pattern in analyser._patterns(tree):
                analyser._pattern(window, tree, pattern, self.entry(t), self.trace_id(t))

    def _possible(self) -> NDArray[np.bool_]:
        """Per regular trace: a parent with ``n_plus_one_min_count`` children, or whose
        CLIENT children could save ``parallel_min_saveable`` (``_may_save``)."""
        rows, config = self.rows, self.analyser.config
        b = rows.batch
        n = len(b.spans)
        possible = np.zeros(len(rows.irregular), bool)
        child = np.flatnonzero(b.parent >= 0)
        many = np.bincount(b.parent[child], minlength=n) >= config.n_plus_one_min_count
        possible[b.trace[many]] = True
        calls = child[b.kind[child] == _CLIENT]
        of = b.parent[calls].astype(np.int64)
        durations = b.end[calls] - b.start[calls]
        total, longest = np.zeros(n, np.int64), np.zeros(n, np.int64)
        np.add.at(total, of, durations)
        np.maximum.at(longest, of, durations)
        saving = total - longest >= int(config.parallel_min_saveable * NS)
        possible[b.trace[(np.bincount(of, minlength=n) >= 2) & saving]] = True
        possible[rows.irregular] = False  # searched on their own tree anyway
        return possible


__all__ = ["NATIVE", "I64", "add_traces"]


def _has_statement(span: SpanRecord) -> bool:
    attrs = span.attributes
    return "db.query.text" in attrs or "db.statement" in attrs  # else not a query


def _server_carries(span: SpanRecord) -> bool:
    attrs = span.attributes
    return bool(span.events) or DELTA in attrs or RSS_END in attrs
