"""Feed recorded OTLP JSON lines through the pipeline on event time.

The input is what the Collector's file exporter writes: one JSON object per
line holding ``resourceSpans``, ``resourceMetrics`` or ``resourceLogs``.
Processors are ticked at the telemetry's own timestamps, every
``service.tick_interval`` of event time, so a replay gives the same findings
whenever and however fast it runs.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from otel_perf.decode import SPAN_ATTRIBUTE_KEYS, DecodeError, Decoder, Limits, parse_json
from otel_perf.findings import Finding
from otel_perf.model import Batch
from otel_perf.pipeline import Pipeline

KEYS = {"resourceSpans": "traces", "resourceMetrics": "metrics", "resourceLogs": "logs"}


@dataclass
class ReplayReport:
    """What a replay read, what it could not, and what it found."""

    lines: int = 0
    items: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def _open(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def read_batches(path: Path, decoder: Decoder, report: ReplayReport) -> Iterator[Batch]:
    """Decode each line of one file; a bad line is reported with its number and skipped."""
    with _open(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            report.lines += 1
            try:
                yield from _line_batches(line, decoder, report)
            except DecodeError as exc:
                report.errors.append(f"{path}:{number}: {exc}")


def _line_batches(line: str, decoder: Decoder, report: ReplayReport) -> Iterator[Batch]:
    try:
        document = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc}") from None
    if not isinstance(document, dict) or not any(k in document for k in KEYS):
        raise DecodeError("expected an object with resourceSpans, resourceMetrics or resourceLogs")
    for key, signal in KEYS.items():
        if key not in document:
            continue
        message = parse_json(signal, {key: document[key]})
        batch, problems = decoder.decode(signal, message)
        report.rejected += problems.rejected
        if problems.rejected:
            report.errors.append(problems.message())
        report.items += len(batch)
        yield batch


def replay(pipeline: Pipeline, paths: list[Path]) -> ReplayReport:
    """Process every file in order, ticking on event time; returns the report."""
    report = ReplayReport()
    decoder = Decoder(Limits(span_attribute_keys=SPAN_ATTRIBUTE_KEYS | pipeline.span_attributes))
    interval_ns = int(pipeline.config.service.tick_interval * 1e9)
    next_tick: int | None = None
    latest = 0
    for path in paths:
        for batch in read_batches(path, decoder, report):
            pipeline.process(batch)
            latest = max(latest, batch.max_time_ns())
            if next_tick is None and latest:
                next_tick = latest + interval_ns
            while next_tick is not None and latest >= next_tick:
                report.findings += pipeline.tick(next_tick)
                next_tick += interval_ns
    if latest:
        report.findings += pipeline.tick(latest)
        report.findings += pipeline.finish(latest)
    pipeline.flush(latest)
    return report
