"""A component wired as the pipeline wires it, with the processors it reads from.

Upstream processors (``upstream.yaml`` of a case: ``{type: settings}``) share the
component's store and series hub and see every batch and tick first, so a processor fed
by span metrics (slo, anomaly, regression, capacity) or an exporter of closed intervals
(``otlp_aggregates``) gets its input the way it does in a pipeline. As in the pipeline,
every tick's findings are written to the store, and upstream findings are exported to an
exporter under test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from otel_perf.component import Context, Exporter, Factory, Processor, processor_types
from otel_perf.componenttest.configs import TestdataError, validate
from otel_perf.componenttest.steps import Step, read_steps
from otel_perf.decode import SPAN_ATTRIBUTE_KEYS, Decoder, Limits
from otel_perf.findings import Finding
from otel_perf.model import Batch, MetricBatch, SpanBatch
from otel_perf.series import SeriesHub, SeriesInterval
from otel_perf.store import Store

#: the decoder's clock: far ahead of any golden input, so nothing is refused as future
#: telemetry and decoding never reads the wall clock
DECODE_CLOCK_NS = 2**62


def upstream_of(case: Path) -> list[tuple[Factory[Any, Processor], Any]]:
    """The processors named in ``case/upstream.yaml``, with their validated settings."""
    path = case / "upstream.yaml"
    if not path.is_file():
        return []
    body = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(body, dict):
        raise TestdataError(f"{path}: expected a mapping of processor type to settings")
    known = processor_types()
    out = []
    for kind, settings in body.items():
        if kind not in known:
            raise TestdataError(f"{path}: unknown processor type {kind!r} (known: {list(known)})")
        factory = known[kind]
        out.append((factory, validate(factory.config_model, settings or {}, f"{path} {kind}")))
    return out


class _Hub(SeriesHub):
    """The series hub, knowing which component it is calling (all calls are synchronous)."""

    def __init__(self) -> None:
        super().__init__()
        self.calling: object = None


class Harness:
    """The component under test (``subject``) after its upstream processors."""

    def __init__(
        self,
        factory: Factory[Any, Any],
        config: Any,
        store: Store,
        upstream: Sequence[tuple[Factory[Any, Processor], Any]] = (),
    ) -> None:
        self.store = store
        self.hub = series = _Hub()
        #: series intervals the subject published (span metrics, merged aggregates)
        self.published: list[SeriesInterval] = []
        series.subscribe(self._heard)
        self.upstream: list[Processor] = [
            f.create(Context(f.type, store, series), c) for f, c in upstream
        ]
        self.subject = factory.create(Context(factory.type, store, series), config)
        keys = set(SPAN_ATTRIBUTE_KEYS)
        for processor in self.processors:
            keys |= processor.span_attributes
        limits = Limits(span_attribute_keys=frozenset(keys), clock=lambda: DECODE_CLOCK_NS)
        self.decoder = Decoder(limits)

    def _heard(self, interval: SeriesInterval) -> None:
        if self.hub.calling is self.subject:
            self.published.append(interval)

    @property
    def processors(self) -> list[Processor]:
        """Upstream processors, then the subject when it is one."""
        mine = [self.subject] if isinstance(self.subject, Processor) else []
        return [*self.upstream, *mine]

    def read(self, case: Path) -> list[Step]:
        return read_steps(case / "input.jsonl", self.decoder)

    def start(self) -> None:
        for component in [*self.upstream, self.subject]:
            component.start()

    def run(
        self, steps: Sequence[Step], get: Callable[[Step], None] | None = None
    ) -> list[Finding]:
        """Feed ``steps``; the subject's findings (a processor's) in order."""
        found: list[Finding] = []
        for step in steps:
            for batch in step.batches:
                self.consume(batch)
            if step.findings:
                self.store.add_findings(list(step.findings))
                self.export(list(step.findings))
            if step.tick_ns is not None:
                found += self.evaluate(step.tick_ns, step.finish)
            if step.flush_ns is not None:
                self.flush(step.flush_ns)
            if step.get is not None and get is not None:
                get(step)
        return found

    def consume(self, batch: Batch) -> None:
        for processor in self.processors:
            self.hub.calling = processor
            if isinstance(batch, SpanBatch):
                processor.consume_spans(batch)
            elif isinstance(batch, MetricBatch):
                processor.consume_metrics(batch)
            else:
                processor.consume_logs(batch)

    def evaluate(self, now_ns: int, finish: bool = False) -> list[Finding]:
        """Tick (or finish) every processor; store all findings, export upstream ones."""
        mine: list[Finding] = []
        every: list[Finding] = []
        for processor in self.processors:
            self.hub.calling = processor
            result = processor.finish(now_ns) if finish else processor.tick(now_ns)
            every += result
            if processor is self.subject:
                mine += result
            else:
                self.export(list(result))
        if every:
            self.store.add_findings(every)
        return mine

    def export(self, findings: list[Finding]) -> None:
        if findings and isinstance(self.subject, Exporter):
            self.subject.export(findings)

    def flush(self, now_ns: int) -> None:
        for processor in self.processors:
            self.hub.calling = processor
            processor.flush(now_ns)
        if isinstance(self.subject, Exporter):
            self.subject.flush()

    def shutdown(self) -> None:
        for component in [self.subject, *reversed(self.upstream)]:
            component.shutdown()


def last_time_ns(steps: Sequence[Step]) -> int:
    """The last tick's event time (0 when the case never ticks)."""
    return max((s.tick_ns for s in steps if s.tick_ns is not None), default=0)


def event_window(steps: Sequence[Step]) -> tuple[int, int] | None:
    """The first and last event time the steps mention (ticks, flushes, findings, batches)."""
    times = [t for s in steps for t in (s.tick_ns, s.flush_ns) if t is not None]
    times += [f.time_ns for s in steps for f in s.findings]
    times += [b.max_time_ns() for s in steps for b in s.batches if len(b)]
    return (min(times), max(times)) if times else None
