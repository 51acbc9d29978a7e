"""The ``otel_perf.*`` metrics every metrics exporter publishes, and its resource.

One definition shared by the ``otlp`` and ``prometheus`` exporters: a counter of
finding openings, gauges of the findings open now (``open_findings``), observable
views of the pipeline's Telemetry and one observable gauge per name processors
registered in :mod:`otel_perf.component.gauges`. Observable instruments read
``Telemetry.snapshot()`` when the SDK collects (on the metric reader's thread), so
ingest never touches them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from opentelemetry.metrics import CallbackOptions, Counter, Meter, Observation
from opentelemetry.sdk.resources import OTELResourceDetector, Resource

from otel_perf.component import gauges
from otel_perf.exporters.open_findings import IMPACT, OPEN, OPEN_DROPPED, OpenFindings
from otel_perf.findings import Finding
from otel_perf.series import SeriesKey
from otel_perf.telemetry import Telemetry

SCOPE = "otel_perf"
DEFAULT_SERVICE_NAME = "otel-perf"
FINDINGS = "otel_perf.findings"
RECEIVER_ACCEPTED = "otel_perf.receiver.accepted"
RECEIVER_REFUSED = "otel_perf.receiver.refused"
RECEIVER_REJECTED = "otel_perf.receiver.rejected"
QUEUE_SIZE = "otel_perf.queue.size"
QUEUE_CAPACITY = "otel_perf.queue.capacity"
PROCESSOR_BATCHES = "otel_perf.processor.batches"
PROCESSOR_DURATION = "otel_perf.processor.duration"

#: span metrics, named as the Collector's spanmetrics connector names them
SPAN_CALLS = "traces.span.metrics.calls"
SPAN_DURATION = "traces.span.metrics.duration"
SPAN_KIND_NAMES = {
    0: "SPAN_KIND_UNSPECIFIED",
    1: "SPAN_KIND_INTERNAL",
    2: "SPAN_KIND_SERVER",
    3: "SPAN_KIND_CLIENT",
    4: "SPAN_KIND_PRODUCER",
    5: "SPAN_KIND_CONSUMER",
}

TelemetrySource = Callable[[], Telemetry | None]
Callback = Callable[[CallbackOptions], Iterable[Observation]]

_RECEIVER = (
    (RECEIVER_ACCEPTED, "accepted", "Items taken into the queue, by signal."),
    (RECEIVER_REFUSED, "refused", "Items refused because the queue was full, by signal."),
    (RECEIVER_REJECTED, "rejected", "Items rejected as invalid, by signal."),
)


def build_resource(extra: dict[str, str]) -> Resource:
    """``service.name: otel-perf``, overridden by OTEL_* variables, then by ``extra``."""
    detected = dict(OTELResourceDetector().detect().attributes)
    return Resource.create({"service.name": DEFAULT_SERVICE_NAME, **detected, **extra})


def scope_version() -> str | None:
    """The installed otel-perf version, for the instrumentation scope (None if unknown)."""
    try:
        return version("otel-perf")
    except PackageNotFoundError:
        return None


def span_attributes(key: SeriesKey) -> dict[str, str]:
    """The data point attributes of one span-metrics series (service aside)."""
    return {
        "span.name": key.operation,
        "span.kind": SPAN_KIND_NAMES.get(key.span_kind, ""),
        **dict(key.dims),
    }


def finding_attributes(finding: Finding) -> dict[str, str]:
    """The attributes of one ``otel_perf.findings`` increment."""
    return {
        "kind": finding.kind.value,
        "severity": finding.severity.value,
        "service": finding.service,
    }


def create_instruments(
    meter: Meter, telemetry: TelemetrySource, open_findings: OpenFindings | None = None
) -> Counter:
    """Create every instrument on ``meter``; return the findings counter.

    Args:
        meter: the meter of the exporter's own MeterProvider.
        telemetry: returns the bound Telemetry, or None before binding (then
            the observable instruments report nothing).
        open_findings: the exporter's open findings, published as gauges.
    """
    if open_findings is not None:
        _open_finding_gauges(meter, open_findings)
    for name, key, description in _RECEIVER:
        meter.create_observable_counter(
            name, [_by_signal(telemetry, key)], unit="{item}", description=description
        )
    meter.create_observable_gauge(
        QUEUE_SIZE, [_queue(telemetry, "depth")], unit="{item}", description="Items queued."
    )
    meter.create_observable_gauge(
        QUEUE_CAPACITY,
        [_queue(telemetry, "capacity")],
        unit="{item}",
        description="Items the queue holds at most.",
    )
    meter.create_observable_counter(
        PROCESSOR_BATCHES,
        [_processor_stat(telemetry, "batches")],
        unit="{batch}",
        description="Batches handed to each processor.",
    )
    meter.create_observable_counter(
        PROCESSOR_DURATION,
        [_processor_stat(telemetry, "total_s")],
        unit="s",
        description="Time spent in each processor's consume calls.",
    )
    for info in gauges.registered():
        meter.create_observable_gauge(
            info.name,
            [_processor_gauge(telemetry, info.name)],
            unit=info.unit,
            description=info.description,
        )
    return meter.create_counter(
        FINDINGS,
        unit="{finding}",
        description="Findings opened (not updates or resolves), by kind, severity, service.",
    )


def _open_finding_gauges(meter: Meter, open_findings: OpenFindings) -> None:
    def observe_open(_: CallbackOptions) -> Iterable[Observation]:
        return [Observation(1, entry.labels) for entry in open_findings.current()]

    def observe_impact(_: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(entry.impact, entry.labels)
            for entry in open_findings.current()
            if entry.impact is not None
        ]

    meter.create_observable_gauge(
        OPEN, [observe_open], unit="1", description="1 for each finding open now, by finding."
    )

    def observe_dropped(_: CallbackOptions) -> Iterable[Observation]:
        return [Observation(open_findings.dropped)]

    meter.create_observable_counter(
        OPEN_DROPPED,
        [observe_dropped],
        unit="{finding}",
        description="Open findings left out of otel_perf.finding.open (max_open_findings).",
    )
    meter.create_observable_gauge(
        IMPACT,
        [observe_impact],
        unit="1",
        description="Impact of each open finding on the recommendations' points scale.",
    )


def _snapshot(telemetry: TelemetrySource) -> dict[str, Any] | None:
    bound = telemetry()
    return None if bound is None else bound.snapshot()


def _by_signal(telemetry: TelemetrySource, key: str) -> Callback:
    def observe(_: CallbackOptions) -> Iterable[Observation]:
        snap = _snapshot(telemetry)
        if snap is None:
            return []
        counts: dict[str, int] = snap["receiver"][key]
        return [Observation(n, {"signal": signal}) for signal, n in counts.items()]

    return observe


def _queue(telemetry: TelemetrySource, key: str) -> Callback:
    def observe(_: CallbackOptions) -> Iterable[Observation]:
        snap = _snapshot(telemetry)
        return [] if snap is None else [Observation(snap["queue"][key])]

    return observe


def _processor_gauge(telemetry: TelemetrySource, name: str) -> Callback:
    def observe(_: CallbackOptions) -> Iterable[Observation]:
        bound = telemetry()
        source = None if bound is None else bound.gauge_source
        if source is None:
            return []
        return [Observation(value, attrs) for value, attrs in source().get(name, [])]

    return observe


def _processor_stat(telemetry: TelemetrySource, key: str) -> Callback:
    def observe(_: CallbackOptions) -> Iterable[Observation]:
        snap = _snapshot(telemetry)
        if snap is None:
            return []
        return [
            Observation(stats[key], {"processor": name})
            for name, stats in snap["processing"].items()
        ]

    return observe
