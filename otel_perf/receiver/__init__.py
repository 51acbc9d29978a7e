"""OTLP receivers: gRPC (:4317) and HTTP (:4318), both feeding one Sink.

A receiver parses the request, decodes it once (``otel_perf.decode``), counts
what it rejected, and offers the batch to the sink. ``Sink.submit`` returns
False when the bounded queue is full; the receiver then answers with a
retryable status (gRPC RESOURCE_EXHAUSTED with RetryInfo, HTTP 503 with
Retry-After) so standard SDK exporters send again.
"""

from __future__ import annotations

from typing import Protocol

from otel_perf.model import Batch
from otel_perf.telemetry import Telemetry

SIGNAL_OF = {"traces": "spans", "metrics": "metric_points", "logs": "log_records"}


class Sink(Protocol):
    """Where receivers put decoded batches (the pipeline implements it)."""

    telemetry: Telemetry

    @property
    def span_attributes(self) -> frozenset[str]:
        """Span attribute keys to keep beyond the decoder's defaults."""
        ...

    def submit(self, batch: Batch) -> bool:
        """Queue a batch without blocking; False when the queue is full."""
        ...
