"""Wiring: receivers -> bounded queue -> processors -> findings -> exporters.

The pipeline owns the chores around processors: it counts and times them,
isolates their failures (a processor that raises is logged and counted, the
others go on), ticks them on a schedule, persists their state and fans their
findings out to subscribers, the store and exporters.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from otel_perf.component import (
    Context,
    Exporter,
    Processor,
    component_type,
    exporter_types,
    processor_types,
)
from otel_perf.config import Config
from otel_perf.findings import Finding, Kind
from otel_perf.model import Batch, LogBatch, MetricBatch, SpanBatch, SpanKind, SpanRecord
from otel_perf.queue import BoundedQueue
from otel_perf.semconv import route_of
from otel_perf.series import SeriesHub
from otel_perf.store import Store, StoreWriteError
from otel_perf.telemetry import Telemetry
from otel_perf.threadnames import name_native_thread

log = logging.getLogger("otel_perf.pipeline")

Handler = Callable[[Finding], None]
Clock = Callable[[], int]
SIGNAL_OF_BATCH: dict[type, str] = {
    SpanBatch: "spans",
    MetricBatch: "metric_points",
    LogBatch: "log_records",
}
PIPELINE_OF_BATCH: dict[type, str] = {SpanBatch: "traces", MetricBatch: "metrics", LogBatch: "logs"}
ALL = "*"


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
        self.queue = BoundedQueue(service.queue.max_items)
        self.telemetry.queue_capacity = service.queue.max_items
        self.processors: dict[str, Processor] = {}
        self.exporters: dict[str, Exporter] = {}
        self._chains: dict[str, list[Processor]] = {"traces": [], "metrics": [], "logs": []}
        self._routes: dict[str, list[Exporter]] = defaultdict(list)
        self._subscribers: dict[str, list[Handler]] = defaultdict(list)
        self._worker: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.RLock()  # processors are touched by one thread at a time
        self._build()

    # -- construction -------------------------------------------------------
    def _build(self) -> None:
        for name, settings in self.config.service.pipelines.items():
            chain = self._chains[name.split("/", 1)[0]]
            exporters = [self._exporter(eid) for eid in settings.exporters]
            for pid in settings.processors:
                processor = self._processor(pid)
                if processor not in chain:
                    chain.append(processor)
                for exporter in exporters:
                    if exporter not in self._routes[pid]:
                        self._routes[pid].append(exporter)
            # findings of processors outside this pipeline never reach its exporters,
            # but exporters still get the pipeline's own telemetry via bind_telemetry
        self.telemetry.gauge_source = self.gauges
        self.telemetry.store_source = self.store.status
        for exporter in self.exporters.values():
            exporter.bind_telemetry(self.telemetry)
            exporter.bind_sources(
                frozenset(pid for pid, routed in self._routes.items() if exporter in routed)
            )

    def _processor(self, pid: str) -> Processor:
        if pid not in self.processors:
            factory = processor_types()[component_type(pid)]
            self.processors[pid] = factory.create(
                Context(pid, self.store, self.series), self.config.processors[pid]
            )
        return self.processors[pid]

    def _exporter(self, eid: str) -> Exporter:
        if eid not in self.exporters:
            factory = exporter_types()[component_type(eid)]
            self.exporters[eid] = factory.create(
                Context(eid, self.store, self.series), self.config.exporters[eid]
            )
        return self.exporters[eid]

    @property
    def span_attributes(self) -> frozenset[str]:
        """Extra span attribute keys the configured processors read."""
        keys: set[str] = set()
        for processor in self._chains["traces"]:
            keys |= processor.span_attributes
        return frozenset(keys)

    # -- subscriptions ------------------------------------------------------
    def on(self, kind: Kind | str, handler: Handler) -> Callable[[], None]:
        """Call ``handler(finding)`` for every finding of ``kind`` (``"*"`` for all).

        Returns a function that removes the subscription. Handlers run on the
        pipeline thread; an exception in one is logged and does not stop others.
        """
        key = kind.value if isinstance(kind, Kind) else kind
        if key != ALL and key not in {k.value for k in Kind}:
            known = ", ".join(k.value for k in Kind)
            raise ValueError(f'unknown finding kind "{key}" (known: {known}, or "*")')
        self._subscribers[key].append(handler)
        return lambda: self._subscribers[key].remove(handler)

    # -- lifecycle ----------------------------------------------------------
    def start(self, worker: bool = True) -> None:
        """Start exporters and processors, then (live mode) the worker thread."""
        for exporter in self.exporters.values():
            exporter.start()
        for processor in self.processors.values():
            processor.start()
        if worker:
            self._worker = threading.Thread(
                target=self._run, name="otel-perf-pipeline", daemon=True
            )
            self._worker.start()

    def submit(self, batch: Batch) -> bool:
        """Queue a batch from a receiver; False (and counted as refused) when full."""
        signal = SIGNAL_OF_BATCH[type(batch)]
        accepted = self.queue.offer(batch)
        counter = self.telemetry.accepted if accepted else self.telemetry.refused
        self.telemetry.count(counter, signal, len(batch))
        self.telemetry.queue_depth = self.queue.depth
        return accepted

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop taking batches, drain the queue, tick once more, flush and close."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self.queue.close()
        if self._worker is not None:
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

    def _run(self) -> None:
        name_native_thread()
        service = self.config.service
        ticks = Every(service.tick_interval, time.monotonic())
        flushes = Every(service.store.flush_interval, time.monotonic())
        while True:
            wait = max(0.0, min(ticks.next_s, flushes.next_s) - time.monotonic())
            batch = self.queue.take(timeout=wait)
            if batch is not None:
                self.process(batch)
            elif self.queue.closed:
                return
            if ticks.due(time.monotonic()):
                self.tick(self.clock())
                ticks.ran(time.monotonic())
            if flushes.due(time.monotonic()):
                self.flush(self.clock())
                flushes.ran(time.monotonic())

    # -- the work -----------------------------------------------------------
    def process(self, batch: Batch) -> None:
        """Hand one batch to every processor of its signal, in order."""
        started = time.perf_counter_ns()
        signal = SIGNAL_OF_BATCH[type(batch)]
        chain = self._chains[PIPELINE_OF_BATCH[type(batch)]]
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
        self._observe(batch)
        self.telemetry.count(self.telemetry.processed, signal, len(batch))
        self.telemetry.queue_depth = self.queue.depth
        self.telemetry.max_batch_latency_ns = max(
            self.telemetry.max_batch_latency_ns, time.perf_counter_ns() - started
        )

    def _observe(self, batch: Batch) -> None:
        if isinstance(batch, SpanBatch):
            self.telemetry.observe_spans(*span_counts(batch))
        elif isinstance(batch, LogBatch):
            names = Counter(r.event_name for r in batch.records if r.event_name)
            if names:
                self.telemetry.observe_events(names)

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
                    self._publish(processor.id, finding)
        if found:
            self._guard("store", self.store.add_findings, found)
        return found

    def _publish(self, source: str, finding: Finding) -> None:
        self.telemetry.count(self.telemetry.findings, finding.kind.value)
        for handler in [*self._subscribers[finding.kind.value], *self._subscribers[ALL]]:
            self._guard(f"subscriber:{finding.kind.value}", handler, finding)
        for exporter in self._routes[source]:
            self._guard(exporter.id, exporter.export, [finding])

    def flush(self, now_ns: int) -> None:
        """Persist processor state. Exporters send on their own schedule (and are
        flushed at shutdown), so a slow backend never stalls the pipeline thread."""
        with self._lock:
            for processor in self.processors.values():
                self._guard(processor.id, processor.flush, now_ns)
        # after a disk fault: write the findings and series left behind, or probe the store
        # so the fault clears even when nothing else needs writing
        if self._guard("store", self.store.catch_up) is True:
            self._guard("store", self.store.probe, now_ns)

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

    def _guard(self, who: str, fn: Callable[..., object], *args: object) -> object:
        try:
            return fn(*args)
        except StoreWriteError:  # a disk fault, not a bug: the store counted it and the
            return None  # component keeps its data for the next flush
        except Exception:  # isolate: one component's bug must not stop the rest
            log.exception("component %s failed", who)
            self.telemetry.count(self.telemetry.component_errors, who)
            return None


class Every:
    """A chore's schedule: due ``interval_s`` after its last run *ended*.

    Counting from the end rather than the start means a chore slower than its interval
    (ticking 20,000 series on a loaded machine) still leaves the worker an interval to
    take batches between two runs; counted from the start, it would run again at once
    and the worker would take one batch a tick while the queue filled.
    """

    def __init__(self, interval_s: float, now_s: float) -> None:
        self.interval_s = interval_s
        self.next_s = now_s + interval_s

    def due(self, now_s: float) -> bool:
        return now_s >= self.next_s

    def ran(self, now_s: float) -> None:
        """The chore just ended at ``now_s``."""
        self.next_s = now_s + self.interval_s


COLUMNS_FROM_SPANS = 32
"""From this many spans a natively decoded batch is counted on its columns."""


def span_counts(batch: SpanBatch) -> tuple[Counter[str], Counter[str]]:
    """Spans by service, and SERVER spans by ``"<service> <route>"``, in order of first
    appearance (the order decides which names a bounded counter admits)."""
    if batch.columnar is None or len(batch) < COLUMNS_FROM_SPANS:
        return _span_counts_by_record(batch.spans)
    columns = batch.columnar
    strings, service = columns.strings, columns.service
    ids, first, counts = np.unique(service, return_index=True, return_counts=True)
    order = np.argsort(first, kind="stable").tolist()
    names, totals = ids.tolist(), counts.tolist()
    services = Counter({strings[names[i]]: totals[i] for i in order})
    routes: Counter[str] = Counter()
    spans = batch.spans
    for row in np.flatnonzero(columns.kind == SpanKind.SERVER).tolist():
        span = spans[row]
        routes[f"{strings[service[row]]} {route_of(span.attributes, span.name)}"] += 1
    return services, routes


def _span_counts_by_record(spans: list[SpanRecord]) -> tuple[Counter[str], Counter[str]]:
    services: Counter[str] = Counter()
    routes: Counter[str] = Counter()
    for span in spans:
        service = span.resource.service_name
        services[service] += 1
        if span.kind == SpanKind.SERVER:
            routes[f"{service} {route_of(span.attributes, span.name)}"] += 1
    return services, routes
