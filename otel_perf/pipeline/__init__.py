"""Wiring: receivers -> bounded queue -> processors -> findings -> exporters.

The pipeline owns the chores around processors: it counts and times them,
isolates their failures (a processor that raises is logged and counted, the
others go on), ticks them on a schedule, persists their state and fans their
findings out to subscribers, the store and exporters. Each chore is its own
collaborator — ``graph`` (building from config), ``worker`` (the loop and its
schedule), ``observe`` (self-observation), ``fanout`` (subscribers and exporters),
``catchup`` (the store), ``guard`` (failure isolation) — and ``Pipeline`` composes them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from otel_perf.component import Exporter, Processor, component_type
from otel_perf.config import Config
from otel_perf.findings import Finding, Kind
from otel_perf.model import Batch, LogBatch, MetricBatch, SpanBatch
from otel_perf.pipeline.catchup import StoreCatchUp
from otel_perf.pipeline.fanout import ALL, FanOut, Handler
from otel_perf.pipeline.graph import Graph
from otel_perf.pipeline.guard import Guard
from otel_perf.pipeline.observe import (
    COLUMNS_FROM_SPANS,
    SIGNAL_OF_BATCH,
    SelfObservation,
    span_counts,
)
from otel_perf.pipeline.worker import Every, Worker
from otel_perf.queue import BoundedQueue
from otel_perf.series import SeriesHub
from otel_perf.store import Store
from otel_perf.telemetry import Telemetry

__all__ = [
    "ALL",
    "COLUMNS_FROM_SPANS",
    "PIPELINE_OF_BATCH",
    "SIGNAL_OF_BATCH",
    "Clock",
    "Every",
    "Handler",
    "Pipeline",
    "span_counts",
]

Clock = Callable[[], int]
PIPELINE_OF_BATCH: dict[type, str] = {SpanBatch: "traces", MetricBatch: "metrics", LogBatch: "logs"}


class Pipeline:
    """The running graph of one config. Implements the receivers' Sink."""

    def __init__(self, config: Config, store: Store | None = None, clock: Clock = time.time_ns):
        self.config = config
        self.clock = clock
        service = config.service
        self.telemetry = Telemetry(service.limits.max_services, service.limits.max_routes)
        self.store = (
            store if store is not None else Store(service.store.path, service.store.max_findings)
        )
        self.series = SeriesHub()
        self.queue = BoundedQueue(service.queue.max_items, service.queue.max_size_mib * 2**20)
        self.telemetry.queue_capacity = service.queue.max_items
        self.telemetry.queue_source = self.queue.stats
        self._guard = Guard(self.telemetry)
        self._observation = SelfObservation(self.telemetry)
        self._graph = Graph(config, self.store, self.series)
        self.processors: dict[str, Processor] = self._graph.processors
        self.exporters: dict[str, Exporter] = self._graph.exporters
        self._fanout = FanOut(self._graph.routes, self.telemetry, self._guard)
        self._store_writes = StoreCatchUp(self.store, self._guard)
        self._worker = Worker(self.queue, self)
        self._stopping = threading.Event()
        self._lock = threading.RLock()  # processors are touched by one thread at a time
        self.telemetry.gauge_source = self.gauges
        self.telemetry.store_source = self.store.status
        for exporter in self.exporters.values():
            exporter.bind_telemetry(self.telemetry)
            exporter.bind_sources(self._graph.sources_of(exporter))

    @property
    def span_attributes(self) -> frozenset[str]:
        """Extra span attribute keys the configured processors read."""
        return self._graph.span_attributes

    def on(self, kind: Kind | str, handler: Handler) -> Callable[[], None]:
        """Call ``handler(finding)`` for every finding of ``kind`` (``"*"`` for all).

        Returns a function that removes the subscription. Handlers run on the
        pipeline thread; an exception in one is logged and does not stop others.
        """
        return self._fanout.on(kind, handler)

    # -- lifecycle ----------------------------------------------------------
    def start(self, worker: bool = True) -> None:
        """Start exporters and processors, then (live mode) the worker thread."""
        for exporter in self.exporters.values():
            exporter.start()
        for processor in self.processors.values():
            processor.start()
        if worker:
            service = self.config.service
            self._worker.start(service.tick_interval, service.store.flush_interval)

    def submit(self, batch: Batch) -> bool:
        """Queue a batch from a receiver; False (and counted as refused) when full."""
        accepted = self.queue.offer(batch)
        self._observation.submitted(batch, accepted, self.queue.depth)
        return accepted

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop taking batches, drain the queue, tick once more, flush and close."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self.queue.close()
        self._worker.join(timeout)
        now = self.clock()
        self.tick(now)
        self.flush(now)
        for processor in self.processors.values():
            self._guard(processor.id, processor.shutdown)
        for exporter in self.exporters.values():
            self._guard(exporter.id, exporter.flush)
            self._guard(exporter.id, exporter.shutdown)
        self.store.close()

    # -- the work -----------------------------------------------------------
    def process(self, batch: Batch) -> None:
        """Hand one batch to every processor of its signal, in order."""
        started = time.perf_counter_ns()
        chain = self._graph.chains[PIPELINE_OF_BATCH[type(batch)]]
        with self._lock:
            for processor in chain:
                t0 = time.perf_counter_ns()
                if isinstance(batch, SpanBatch):
                    self._guard(processor.id, processor.consume_spans, batch)
                elif isinstance(batch, MetricBatch):
                    self._guard(processor.id, processor.consume_metrics, batch)
                else:
                    self._guard(processor.id, processor.consume_logs, batch)
                self.telemetry.observe_processing(processor.id, time.perf_counter_ns() - t0)
        self._observation.processed(batch, started, self.queue.depth)

    def tick(self, now_ns: int) -> list[Finding]:
        """Evaluate every processor at event time ``now_ns`` and publish what they find."""
        return self._evaluate("tick", now_ns)

    def finish(self, now_ns: int) -> list[Finding]:
        """End of input: every processor evaluates what it still holds (replay's last step)."""
        return self._evaluate("finish", now_ns)

    def _evaluate(self, method: str, now_ns: int) -> list[Finding]:
        found: list[Finding] = []
        with self._lock:
            for processor in self.processors.values():
                result = self._guard(processor.id, getattr(processor, method), now_ns)
                for finding in result if isinstance(result, list) else ():
                    found.append(finding)
                    self._fanout.publish(processor.id, finding)
        self._store_writes.add(found)
        return found

    def flush(self, now_ns: int) -> None:
        """Persist processor state. Exporters send on their own schedule (and are
        flushed at shutdown), so a slow backend never stalls the pipeline thread."""
        with self._lock:
            for processor in self.processors.values():
                self._guard(processor.id, processor.flush, now_ns)
        self._store_writes.catch_up(now_ns)

    # -- reads for the API ---------------------------------------------------
    def snapshot(self, of_type: str | None = None) -> dict[str, dict[str, Any]]:
        """Each processor's snapshot by id (only those of type ``of_type`` when given),
        taken under the pipeline lock so the API never sees a half-applied batch."""
        out: dict[str, dict[str, Any]] = {}
        with self._lock:
            for pid, processor in self.processors.items():
                if of_type is None or component_type(pid) == of_type:
                    result = self._guard(pid, processor.snapshot)
                    out[pid] = result if isinstance(result, dict) else {}
        return out

    def gauges(self) -> dict[str, list[tuple[float, dict[str, str]]]]:
        """Every processor's gauges by name, read under the pipeline lock."""
        out: dict[str, list[tuple[float, dict[str, str]]]] = {}
        with self._lock:
            for pid, processor in self.processors.items():
                values = self._guard(pid, processor.gauges)
                for name, value, attributes in values if isinstance(values, list) else ():
                    out.setdefault(name, []).append((value, attributes))
        return out
