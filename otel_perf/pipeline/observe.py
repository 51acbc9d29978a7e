"""Self-observation: what the pipeline counts about the batches it takes and processes
(by signal, spans by service and route, log events by name, queue depth, latency)."""

from __future__ import annotations

import time
from collections import Counter

import numpy as np

from otel_perf.model import Batch, LogBatch, MetricBatch, SpanBatch, SpanKind, SpanRecord
from otel_perf.semconv import route_of
from otel_perf.telemetry import Telemetry

SIGNAL_OF_BATCH: dict[type, str] = {
    SpanBatch: "spans",
    MetricBatch: "metric_points",
    LogBatch: "log_records",
}


class SelfObservation:
    """The pipeline's own telemetry, fed as batches come in and go through."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry

    def submitted(self, batch: Batch, accepted: bool, queue_depth: int) -> None:
        """A receiver offered ``batch``; the queue took it or refused it."""
        telemetry = self.telemetry
        counter = telemetry.accepted if accepted else telemetry.refused
        telemetry.count(counter, SIGNAL_OF_BATCH[type(batch)], len(batch))
        telemetry.queue_depth = queue_depth

    def processed(self, batch: Batch, started_ns: int, queue_depth: int) -> None:
        """Every processor has had ``batch``, taken at ``started_ns`` (perf counter)."""
        telemetry = self.telemetry
        if isinstance(batch, SpanBatch):
            telemetry.observe_spans(*span_counts(batch))
        elif isinstance(batch, LogBatch):
            names = Counter(r.event_name for r in batch.records if r.event_name)
            if names:
                telemetry.observe_events(names)
        telemetry.count(telemetry.processed, SIGNAL_OF_BATCH[type(batch)], len(batch))
        telemetry.queue_depth = queue_depth
        telemetry.max_batch_latency_ns = max(
            telemetry.max_batch_latency_ns, time.perf_counter_ns() - started_ns
        )


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
