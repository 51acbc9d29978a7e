"""One complete trace into a window's aggregates: critical path, self time, queries,
repeated calls, slow requests, checkpoint phases and memory."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from functools import lru_cache

from otel_perf.histogram import ExponentialHistogram
from otel_perf.model import SpanKind, SpanRecord
from otel_perf.processors.bottlenecks import fast
from otel_perf.processors.bottlenecks.aggregate import (
    MAX_ENTRY_SHARES,
    NS,
    EntryStats,
    MemoryStats,
    OpKey,
    OpStats,
    PatternStats,
    QueryStats,
    SlowStats,
    Window,
    count_route,
)
from otel_perf.processors.bottlenecks.checkpoints import phases
from otel_perf.processors.bottlenecks.completed import Completed
from otel_perf.processors.bottlenecks.config import BottlenecksConfig
from otel_perf.processors.bottlenecks.critical_path import (
    Segment,
    critical_path,
    path_shares,
    self_times,
    summarise,
)
from otel_perf.processors.bottlenecks.fingerprint import (
    db_operation,
    db_statement,
    db_system,
    fingerprint,
    fingerprint_id,
)
from otel_perf.processors.bottlenecks.memory import memory_delta
from otel_perf.processors.bottlenecks.patterns import (
    Pattern,
    consecutive_parallelizable,
    n_plus_one,
)
from otel_perf.processors.bottlenecks.tracetree import TraceTree, build_tree


@lru_cache(maxsize=8192)
def _fingerprint(statement: str) -> tuple[str, str]:
    # ORMs repeat the same parametrised text, so most lookups hit the cache
    text = fingerprint(statement)
    return text, fingerprint_id(text)


class Analyser:
    """Applies the per-trace analyses with one config."""

    def __init__(self, config: BottlenecksConfig) -> None:
        self.config = config
        # one (service, operation) tuple per key across windows and ticks: the windows'
        # maps and each entry's contributors then share it and its strings
        self._keys: dict[OpKey, OpKey] = {}
        self._max_keys = 4 * (config.max_operations + config.max_routes)

    def shared(self, keys: list[OpKey]) -> list[OpKey]:
        """``keys`` with each replaced by the equal tuple seen first (a bounded table,
        started over when full)."""
        table = self._keys
        if len(table) + len(keys) > self._max_keys:
            table.clear()
        return [table.setdefault(key, key) for key in keys]

    def add_traces(self, window: Window, traces: Completed | Sequence[list[SpanRecord]]) -> None:
        """``add_trace`` for each trace in turn, on columns and in C when it is built
        (``fast.py``: the same figures, for a fraction of the cost)."""
        if fast.NATIVE:
            fast.add_traces(self, window, traces)
        else:
            each = traces.traces() if isinstance(traces, Completed) else traces
            for spans in each:
                self.add_trace(window, spans)

    def add_trace(self, window: Window, spans: list[SpanRecord]) -> None:
        tree = build_tree(spans)
        root = tree.main_root()
        if root is None:
            return
        trace_id = spans[0].trace_id.hex()
        window.traces += 1
        window.critical_total_ns += tree.duration_ns(root)
        shares = path_shares(tree, root)
        entry = (tree.spans[root].service_name, tree.operations[root])
        self._entry(window, tree, root, entry, shares, trace_id)
        self._operations(window, tree, shares, trace_id)
        self._spans(window, tree, entry, trace_id)
        for pattern in self._patterns(tree):
            self._pattern(window, tree, pattern, entry, trace_id)

    def _entry(
        self,
        window: Window,
        tree: TraceTree,
        root: bytes,
        key: OpKey,
        shares: dict[OpKey, int],
        trace: str,
    ) -> None:
        entry = window.entries.slot(key, lambda: EntryStats(window.exemplar_set()))
        if entry is None:
            return
        duration = tree.duration_ns(root)
        entry.traces += 1
        entry.total_ns += duration
        entry.latency_s.record(duration / NS)
        entry.exemplars.offer(duration, trace)
        cells = entry.cells
        for op, ns in shares.items():
            if op in entry.shares or len(entry.shares) < MAX_ENTRY_SHARES:
                entry.shares[op] = entry.shares.get(op, 0) + ns
                cell = cells.get(op)
                if cell is None:
                    cell = cells[op] = window.exemplar_set()
                cell.offer(ns, trace)

    def _operations(
        self, window: Window, tree: TraceTree, shares: dict[OpKey, int], trace: str
    ) -> None:
        ops, spans = window.ops, tree.spans

        def make() -> OpStats:
            return OpStats(window.exemplar_set())

        operations = tree.operations
        for span_id, self_ns in self_times(tree).items():
            key = (spans[span_id].resource.service_name, operations[span_id])
            stats = ops.get(key) or ops.slot(key, make)  # get first: no call when it is there
            if stats is not None:
                stats.self_ns += self_ns
        for key, ns in shares.items():
            stats = ops.get(key) or ops.slot(key, make)
            if stats is not None:
                stats.critical_ns += ns
                stats.traces += 1
                stats.exemplars.offer(ns, trace)

    def _spans(self, window: Window, tree: TraceTree, entry: OpKey, trace: str) -> None:
        operations = tree.operations

        def path(span_id: bytes) -> list[Segment]:
            return critical_path(tree, span_id)

        for span_id, span in tree.spans.items():
            kind = span.kind
            if kind == SpanKind.CLIENT:
                attrs = span.attributes
                if "db.query.text" in attrs or "db.statement" in attrs:  # else no statement
                    duration = tree.duration_ns(span_id)
                    self.query(window, span, operations[span_id], duration, entry, trace)
            elif kind == SpanKind.SERVER:
                self.server(window, span, operations[span_id], trace, path)

    def server(
        self,
        window: Window,
        span: SpanRecord,
        operation: str,
        trace: str,
        path: Callable[[bytes], list[Segment]],
    ) -> None:
        """A SERVER span: its route's requests, slow ones, phases and memory growth."""
        route = (span.resource.service_name, operation)
        self._slow(window, span, route, trace, path)
        self._phases(window, span, route)
        self._memory(window, span, route)

    def query(
        self,
        window: Window,
        span: SpanRecord,
        operation: str,
        duration: int,
        entry: OpKey,
        trace: str,
    ) -> None:
        """A DB CLIENT span: its statement's fingerprint, latency and the entries running it."""
        statement = db_statement(span.attributes)
        if not statement:
            return
        text, fid = _fingerprint(statement)
        key = (span.service_name, fid)
        stats = window.queries.slot(
            key,
            lambda: QueryStats(
                text,
                sys.intern(str(db_system(span.attributes) or "")),
                sys.intern(str(db_operation(span.attributes) or "")),
                window.exemplar_set(),
                call_operation=operation,
            ),
        )
        if stats is not None:
            stats.latency_s.record(duration / NS)
            stats.exemplars.offer(duration, trace)
            count_route(stats.routes, entry)

    def _slow(
        self,
        window: Window,
        span: SpanRecord,
        route: OpKey,
        trace: str,
        path: Callable[[bytes], list[Segment]],
    ) -> None:
        seconds = self.config.slow_request_thresholds.get(
            route[0], self.config.slow_request_threshold
        )
        threshold = int(seconds * NS)
        stats = window.slow.slot(route, lambda: SlowStats(threshold, window.exemplar_set()))
        if stats is None:
            return
        stats.requests += 1
        duration = span.end_ns - span.start_ns
        stats.latency_s.record(duration / NS)
        if duration < threshold:
            return
        stats.slow += 1
        stats.exemplars.offer(duration, trace)
        if duration > stats.worst_ns:
            stats.worst_ns = duration
            # this request's own path: for a server span below the root, the root's path
            # would describe the caller's request instead
            stats.worst_path = summarise(path(span.span_id))

    def _phases(self, window: Window, span: SpanRecord, route: OpKey) -> None:
        if not span.events:
            return
        for name, ns in phases(span):
            hist = window.phases.slot((*route, name), ExponentialHistogram)
            if hist is not None:
                hist.record(ns / NS)

    def _memory(self, window: Window, span: SpanRecord, route: OpKey) -> None:
        delta = memory_delta(span.attributes)
        if delta is None:
            return
        stats = window.memory.slot(route, MemoryStats)
        if stats is None:
            return
        stats.requests += 1
        stats.total_bytes += delta
        stats.max_bytes = max(stats.max_bytes, delta)
        if delta > 0:
            stats.grew += 1
            stats.growth_bytes.record(float(delta))

    def _patterns(self, tree: TraceTree) -> list[Pattern]:
        config = self.config
        # recorded down to the hysteresis bar: an open N+1 stays open until it falls below it
        floor = int(config.n_plus_one_min_total * config.hysteresis * NS)
        found = n_plus_one(tree, config.n_plus_one_min_count, floor)
        return found + consecutive_parallelizable(tree, int(config.parallel_min_saveable * NS))

    def _pattern(
        self, window: Window, tree: TraceTree, pattern: Pattern, entry: OpKey, trace: str
    ) -> None:
        key = (pattern.kind.value, pattern.service, pattern.operation, pattern.fingerprint)
        call = tree.operations[pattern.span_ids[0]]
        stats = window.patterns.slot(key, lambda: PatternStats(window.exemplar_set(), call))
        if stats is None:
            return
        count_route(stats.routes, entry)
        stats.occurrences += 1
        stats.calls += pattern.count
        stats.max_calls = max(stats.max_calls, pattern.count)
        stats.total_ns += pattern.total_ns
        stats.saveable_ns += pattern.saveable_ns
        stats.exemplars.offer(pattern.saveable_ns, trace)
