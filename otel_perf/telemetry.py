"""Self-observability: what came in, what was refused, how busy the pipeline is.

Names follow the Collector's (``otelcol_receiver_accepted_spans``) under the
``otel_perf`` prefix. Per-service span counts are bounded: past
``max_services`` distinct names, counts go to an overflow bucket.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SIGNALS = ("spans", "metric_points", "log_records")
OVERFLOW = "otel.metric.overflow"


@dataclass
class BoundedCounter:
    """A Counter keyed by wire data, with a cap and an overflow bucket."""

    limit: int
    counts: Counter[str] = field(default_factory=Counter)
    overflowed: int = 0

    def add(self, key: str, n: int = 1) -> None:
        if key in self.counts or len(self.counts) < self.limit:
            self.counts[key] += n
        else:
            self.counts[OVERFLOW] += n
            self.overflowed += n


class Telemetry:
    """Thread-safe counters shared by receivers, the queue and the pipeline."""

    def __init__(self, max_services: int = 1000, max_routes: int = 1000) -> None:
        self._lock = threading.Lock()
        self.accepted: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()  # queue full: client should retry
        self.rejected: Counter[str] = Counter()  # invalid: partial success / 400
        self.requests: Counter[str] = Counter()  # by "transport:outcome"
        self.services = BoundedCounter(max_services)
        self.routes = BoundedCounter(max_routes)
        self.event_names = BoundedCounter(max_routes)
        self.processed: Counter[str] = Counter()
        self.processing_ns: Counter[str] = Counter()  # by processor id
        self.processing_batches: Counter[str] = Counter()
        self.findings: Counter[str] = Counter()
        self.export_errors: Counter[str] = Counter()
        self.component_errors: Counter[str] = Counter()  # exceptions isolated by the pipeline
        # set by the pipeline: processors' gauges by name, for exporters
        self.gauge_source: Callable[[], dict[str, list[tuple[float, dict[str, str]]]]] | None = None
        # set by the pipeline: the store's write errors, fault and backlog
        self.store_source: Callable[[], dict[str, Any]] | None = None
        self.queue_depth = 0
        self.queue_capacity = 0
        # set by the pipeline: the queue's bytes, byte capacity and peaks
        self.queue_source: Callable[[], dict[str, int]] | None = None
        self.max_batch_latency_ns = 0

    def count(self, counter: Counter[str], key: str, n: int = 1) -> None:
        with self._lock:
            counter[key] += n

    def observe_spans(self, services: Counter[str], routes: Counter[str]) -> None:
        with self._lock:
            for name, n in services.items():
                self.services.add(name, n)
            for name, n in routes.items():
                self.routes.add(name, n)

    def observe_events(self, names: Counter[str]) -> None:
        with self._lock:
            for name, n in names.items():
                self.event_names.add(name, n)

    def observe_processing(self, component: str, elapsed_ns: int) -> None:
        with self._lock:
            self.processing_ns[component] += elapsed_ns
            self.processing_batches[component] += 1

    def snapshot(self) -> dict[str, Any]:
        store = self.store_source() if self.store_source is not None else {}
        queue = self.queue_source() if self.queue_source is not None else {}
        with self._lock:
            return {
                "store": store,
                "receiver": {
                    "accepted": {s: self.accepted[s] for s in SIGNALS},
                    "refused": {s: self.refused[s] for s in SIGNALS},
                    "rejected": {s: self.rejected[s] for s in SIGNALS},
                    "requests": dict(sorted(self.requests.items())),
                },
                "queue": {"depth": self.queue_depth, "capacity": self.queue_capacity, **queue},
                "processed": {s: self.processed[s] for s in SIGNALS},
                "processing": {
                    name: {
                        "batches": self.processing_batches[name],
                        "total_s": round(self.processing_ns[name] / 1e9, 6),
                        "mean_ms": round(
                            self.processing_ns[name] / self.processing_batches[name] / 1e6, 4
                        ),
                    }
                    for name in sorted(self.processing_batches)
                },
                "services": _top(self.services),
                "routes": _top(self.routes),
                "events": _top(self.event_names),
                "findings": dict(sorted(self.findings.items())),
                "export_errors": dict(sorted(self.export_errors.items())),
                "component_errors": dict(sorted(self.component_errors.items())),
            }


def _top(counter: BoundedCounter) -> dict[str, Any]:
    return {
        "counts": dict(sorted(counter.counts.items())),
        "overflowed": counter.overflowed,
        "limit": counter.limit,
    }
