"""The first telemetry per signal and service is logged once, and only so many pairs."""

from __future__ import annotations

import logging

import pytest
from otlp_builders import logs_request, trace_request

from otel_perf.decode import Decoder
from otel_perf.model import Batch
from otel_perf.sidecar.first_seen import FirstSeen
from otel_perf.telemetry import Telemetry


class Queue:
    """A sink that keeps what it is given (and refuses nothing)."""

    def __init__(self) -> None:
        self.telemetry = Telemetry()
        self.batches: list[Batch] = []

    @property
    def span_attributes(self) -> frozenset[str]:
        return frozenset()

    def submit(self, batch: Batch) -> bool:
        self.batches.append(batch)
        return True


def test_once_per_signal_and_service_and_bounded(caplog: pytest.LogCaptureFixture) -> None:
    queue, decoder = Queue(), Decoder()
    sink = FirstSeen(queue, max_announced=3)
    spans = [decoder.spans(trace_request(service=name))[0] for name in ("a", "b", "a", "c", "d")]
    logs, _ = decoder.logs(logs_request())
    with caplog.at_level(logging.INFO, "otel_perf"):
        for batch in [*spans, logs]:
            assert sink.submit(batch)
    assert queue.batches == [*spans, logs]  # every batch passed on, unchanged
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "first traces received from service a",
        "first traces received from service b",
        "first traces received from service c",
        "first telemetry logged for 3 signal and service pairs; new services are no longer "
        "logged (GET /performance/metrics lists them)",
    ]
    assert sink.announced == {("traces", "a"), ("traces", "b"), ("traces", "c")}
