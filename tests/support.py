"""Test-only components and helpers, registered like any plugin would be."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, ClassVar

from otel_perf.component import (
    ComponentConfig,
    Context,
    EmptyConfig,
    Factory,
    Processor,
    Surface,
    register_processor,
)
from otel_perf.findings import Finding, Kind, Severity
from otel_perf.model import LogBatch, MetricBatch, SpanBatch
from otel_perf.recommend.rules import Context as RuleContext
from otel_perf.recommend.rules import Item, ProcessorSnapshots, held_in


class RecordingConfig(ComponentConfig):
    """Settings of the test processor."""

    emit_every_tick: bool = False
    block: bool = False


class RecordingProcessor(Processor):
    """Keeps what it was given; optionally blocks until released (a slow processor)."""

    instances: ClassVar[list[RecordingProcessor]] = []

    def __init__(self, context: Context, config: RecordingConfig) -> None:
        super().__init__(context)
        self.config = config
        self.spans: list[Any] = []
        self.points: list[Any] = []
        self.logs: list[Any] = []
        self.ticks: list[int] = []
        self.release = threading.Event()
        if not config.block:
            self.release.set()
        self.instances.append(self)

    def consume_spans(self, batch: SpanBatch) -> None:
        self.release.wait(60)
        self.spans.extend(batch.spans)

    def consume_metrics(self, batch: MetricBatch) -> None:
        self.points.extend(batch.points)

    def consume_logs(self, batch: LogBatch) -> None:
        self.logs.extend(batch.records)

    def tick(self, now_ns: int) -> list[Finding]:
        self.ticks.append(now_ns)
        if not (self.config.emit_every_tick and self.spans):
            return []
        return [
            Finding(
                kind=Kind.BOTTLENECK_IDENTIFIED,
                severity=Severity.WARNING,
                service=self.spans[-1].service_name,
                subject=self.spans[-1].name,
                time_ns=now_ns,
                summary=f"{len(self.spans)} spans seen",
                attributes={"spans": len(self.spans)},
                evidence={"trace_ids": [self.spans[-1].trace_id.hex()]},
                source=self.id,
            )
        ]

    def snapshot(self) -> dict[str, Any]:
        return {"spans": len(self.spans)}


class BrokenProcessor(Processor):
    """Raises everywhere: the pipeline must isolate it."""

    def consume_spans(self, batch: SpanBatch) -> None:
        raise RuntimeError("boom")

    def tick(self, now_ns: int) -> list[Finding]:
        raise RuntimeError("boom")


def advice_rule(f: Finding, inputs: RuleContext) -> Item | None:
    """The recording processor's recommendation rule: a ``test_advice`` recommendation."""
    if f.attributes.get("recommendation") != "test_advice":
        return None
    saving = float(f.attributes["saving_ms_per_min"])
    return Item(
        action=f"Follow the test advice for {f.service}",
        category="performance",
        finding=f,
        impact_kind="latency_ms_per_min",
        impact_value=saving,
        impact_text=f"~{saving:.0f} ms per minute",
    )


def closed_subjects(snapshots: ProcessorSnapshots) -> Callable[[Finding], bool]:
    """The recording processor's snapshot may list subjects whose episodes are over."""
    closed = {subject for snap in snapshots.values() for subject in snap.get("closed", [])}
    return lambda f: f.source == "recording" and f.subject in closed


def evaluated_ns(snapshots: ProcessorSnapshots) -> list[int]:
    return [int(snap["evaluated_ns"]) for snap in snapshots.values() if "evaluated_ns" in snap]


def register_test_components() -> None:
    register_processor(
        Factory("broken", EmptyConfig, lambda context, config: BrokenProcessor(context))
    )
    register_processor(
        Factory(
            type="recording",
            config_model=RecordingConfig,
            create=RecordingProcessor,
            description="test-only: records batches",
            surface=Surface(
                recommendations={Kind.RECOMMENDATION: advice_rule},
                held_findings=held_in("held_findings"),
                closed_by=closed_subjects,
                evaluated_ns=evaluated_ns,
            ),
        )
    )
