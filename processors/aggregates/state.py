"""The aggregates processor's document in the store: what a restart must not lose.

The open intervals (each series' RED, and per version), the instances' watermarks, how far
intervals have closed, the open 1 min / 1 h rollups, the bottlenecks windows and the
counters the API shows. Typed here, so a damaged document fails validation on load.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from otel_perf.histogram import ExponentialHistogram
from otel_perf.processors.aggregates.intake import WindowPart
from otel_perf.processors.aggregates.merge import IntervalMerger, OpenInterval
from otel_perf.series import RED, SeriesKey

#: the merger's counters and the processor's, saved by name
MERGER_COUNTERS = ("late", "overflowed", "untracked_instances", "closed_early", "closed")


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KeyDoc(Frozen):
    service: str
    operation: str
    span_kind: int
    dims: list[tuple[str, str]]


class REDDoc(Frozen):
    calls: int
    errors: int
    duration_s: dict[str, Any]
    within: list[tuple[float, int]] = []


class SeriesDoc(Frozen):
    key: KeyDoc
    red: REDDoc
    versions: dict[str, REDDoc] = {}


class IntervalDoc(Frozen):
    start_ns: int
    end_ns: int
    series: list[SeriesDoc]


class WindowDoc(Frozen):
    start_ns: int
    end_ns: int
    traces: int
    critical_total_ns: int
    operations: list[tuple[str, str, int, int, int]]


class AggregatesState(Frozen):
    """The whole document (see the module docstring)."""

    open: list[IntervalDoc]
    marks: dict[str, dict[str, int]]
    closed_ns: int
    counters: dict[str, int]
    last_rejection: str
    windows: list[WindowDoc]
    rollups: list[list[IntervalDoc]]


def red_doc(red: RED) -> REDDoc:
    within = list(red.within.items())
    return REDDoc(
        calls=red.calls, errors=red.errors, duration_s=red.duration_s.to_dict(), within=within
    )


def red_of(doc: REDDoc) -> RED:
    """Raises KeyError, TypeError or ValueError on a histogram that is not one."""
    hist = ExponentialHistogram.from_dict(doc.duration_s)
    return RED(doc.calls, doc.errors, hist, dict(doc.within))


def key_doc(key: SeriesKey) -> KeyDoc:
    return KeyDoc(
        service=key.service, operation=key.operation, span_kind=key.span_kind, dims=list(key.dims)
    )


def key_of(doc: KeyDoc) -> SeriesKey:
    return SeriesKey(doc.service, doc.operation, doc.span_kind, tuple(doc.dims))


def interval_doc(
    start_ns: int,
    end_ns: int,
    values: Mapping[SeriesKey, RED],
    versions: dict[SeriesKey, dict[str, RED]] | None = None,
) -> IntervalDoc:
    per_version = versions or {}
    series = [
        SeriesDoc(
            key=key_doc(key),
            red=red_doc(red),
            versions={v: red_doc(r) for v, r in per_version.get(key, {}).items()},
        )
        for key, red in values.items()
    ]
    return IntervalDoc(start_ns=start_ns, end_ns=end_ns, series=series)


def open_interval(doc: IntervalDoc, max_series: int) -> OpenInterval:
    """An interval as saved, with at most ``max_series`` series (the bound in memory)."""
    interval = OpenInterval(doc.start_ns, doc.end_ns)
    for series in doc.series[:max_series]:
        key = key_of(series.key)
        interval.values[key] = red_of(series.red)
        if series.versions:
            interval.versions[key] = {v: red_of(r) for v, r in series.versions.items()}
    return interval


def window_doc(window: WindowPart) -> WindowDoc:
    rows = [(s, op, r[0], r[1], r[2]) for (s, op), r in window.operations.items()]
    return WindowDoc(
        start_ns=window.start_ns,
        end_ns=window.end_ns,
        traces=window.traces,
        critical_total_ns=window.critical_total_ns,
        operations=rows,
    )


def window_of(doc: WindowDoc, max_operations: int) -> WindowPart:
    window = WindowPart(doc.start_ns, doc.end_ns, doc.traces, doc.critical_total_ns)
    for service, operation, critical, self_ns, traces in doc.operations[:max_operations]:
        window.operations[(service, operation)] = [critical, self_ns, traces]
    return window


def merger_parts(merger: IntervalMerger) -> dict[str, Any]:
    """The merger's share of the document."""
    return {
        "open": [interval_doc(*b, i.values, i.versions) for b, i in sorted(merger.open.items())],
        "marks": {i: dict(m) for i, m in merger.marks.items()},
        "closed_ns": merger.closed_ns,
    }


def restore_merger(merger: IntervalMerger, saved: AggregatesState) -> None:
    """Put the saved intervals, watermarks and counters back, within the merger's bounds
    (the newest ``max_open`` intervals, the first ``max_instances`` instances)."""
    intervals = [open_interval(doc, merger.max_series) for doc in saved.open]
    merger.open = {(i.start_ns, i.end_ns): i for i in intervals[-merger.max_open :]}
    merger.marks = {i: dict(m) for i, m in list(saved.marks.items())[: merger.max_instances]}
    merger.closed_ns = saved.closed_ns
    for name in MERGER_COUNTERS:
        setattr(merger, name, saved.counters.get(name, 0))
