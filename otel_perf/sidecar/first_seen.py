"""Log the first telemetry of each signal from each service, so a person starting otel-perf
sees in its log that their app's exporter reached it (and which signals did not)."""

from __future__ import annotations

import logging
import threading

from otel_perf.model import Batch, LogBatch, MetricBatch, Resource
from otel_perf.receiver import Sink
from otel_perf.telemetry import Telemetry

log = logging.getLogger("otel_perf")

#: (signal, service) pairs announced; past this, new ones are not logged
MAX_ANNOUNCED = 200
_SIGNAL = {MetricBatch: "metrics", LogBatch: "logs"}


class FirstSeen:
    """A :class:`~otel_perf.receiver.Sink` that logs, once per signal and service, the
    first batch a receiver hands on, then passes every batch to ``sink`` unchanged.

    Records of one OTLP resource share their :class:`Resource`, so a batch costs one
    identity check per record and a set lookup per resource.
    """

    def __init__(self, sink: Sink, max_announced: int = MAX_ANNOUNCED) -> None:
        self.sink = sink
        self.telemetry: Telemetry = sink.telemetry
        self.max_announced = max_announced
        self.announced: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    @property
    def span_attributes(self) -> frozenset[str]:
        return self.sink.span_attributes

    def submit(self, batch: Batch) -> bool:
        if len(self.announced) < self.max_announced:
            self._note(batch)
        return self.sink.submit(batch)

    def _note(self, batch: Batch) -> None:
        signal = _SIGNAL.get(type(batch), "traces")
        last: Resource | None = None
        for record in batch:
            if record.resource is last:
                continue
            last = record.resource
            pair = (signal, last.service_name)
            if pair in self.announced:
                continue
            with self._lock:
                if pair in self.announced or len(self.announced) >= self.max_announced:
                    continue
                self.announced.add(pair)
                full = len(self.announced) == self.max_announced
            log.info("first %s received from service %s", signal, pair[1])
            if full:
                log.info(
                    "first telemetry logged for %d signal and service pairs; "
                    "new services are no longer logged (GET /performance/metrics lists them)",
                    self.max_announced,
                )
