"""The ``bottlenecks`` processor: assemble traces, analyse each, evaluate per window."""

from __future__ import annotations

from itertools import compress
from typing import Any

from otel_perf.component import Context, Factory, Processor
from otel_perf.component.announce import Announcer
from otel_perf.component.state import PersistedState
from otel_perf.findings import Finding, Severity
from otel_perf.model import SpanBatch, SpanRecord
from otel_perf.processors.bottlenecks.aggregate import NS, Window
from otel_perf.processors.bottlenecks.analyse import Analyser
from otel_perf.processors.bottlenecks.assembly import TraceAssembler
from otel_perf.processors.bottlenecks.baseline import Baselines
from otel_perf.processors.bottlenecks.config import BottlenecksConfig
from otel_perf.processors.bottlenecks.emit import critical_path_interval
from otel_perf.processors.bottlenecks.evaluate import Found, evaluate
from otel_perf.processors.bottlenecks.impact import ImpactRates
from otel_perf.processors.bottlenecks.judge import Judge
from otel_perf.processors.bottlenecks.memory import KEYS as MEMORY_KEYS
from otel_perf.processors.bottlenecks.naming import kept_operations
from otel_perf.processors.bottlenecks.ranking import ranking
from otel_perf.processors.bottlenecks.report import report
from otel_perf.processors.bottlenecks.saved import (
    SavedState,
    discarded,
    window_from_dict,
    window_to_dict,
)
from otel_perf.store import StoreWriteError

BASELINES = "baselines"  # the component-state name the baselines are saved under
IMPACT = "impact"  # and the findings' smoothed costs
WINDOWS = "windows"  # and the windows being filled, with the assembly's progress


class BottlenecksProcessor(Processor):
    """Critical path, self time, slow queries, repeated calls, slow requests, phases, memory."""

    span_attributes = MEMORY_KEYS | {"url.template", "url.full", "http.url"}

    def __init__(self, context: Context, config: BottlenecksConfig) -> None:
        super().__init__(context)
        self.config = config
        self.interval_ns = int(config.evaluation_interval * NS)
        self.assembler = TraceAssembler(
            int(config.trace_quiet_time * NS),
            config.max_traces,
            config.max_spans_per_trace,
            int(config.max_trace_wait * NS),
        )
        self.baselines = Baselines(
            config.baseline_windows, config.regression_ratio, max_items=4 * config.max_operations
        )
        self.analyser = Analyser(config)
        self.impact = ImpactRates(config.impact_half_life, max_keys=4 * config.max_operations)
        self.announcer = Announcer(int(config.quiet_period * NS))
        self.window: Window | None = None
        self.previous: Window | None = None
        self.traces_analysed = 0
        self.state = PersistedState(
            context.store, self.id, WINDOWS, SavedState, config.save_interval
        )
        self.state_discarded = 0  # saved documents that did not fit (another version)
        # trace ids are random (W3C): the low 8 bytes below ratio * 2^64 pick a stable sample
        ratio = config.sample_ratio
        self.threshold = None if ratio >= 1 else int(ratio * 2**64)

    def start(self) -> None:
        self.announcer.load(self.context.store, self.id)
        self.baselines.restore(self.context.store.load_state(self.id, BASELINES))
        self.impact.restore(self.context.store.load_state(self.id, IMPACT))
        self._restore()

    def _restore(self) -> None:
        """The windows and assembly progress saved before a restart (``saved.py``)."""
        saved = self.state.load()  # logs a document that does not validate
        if saved is None:
            if self.context.store.load_state(self.id, WINDOWS) is not None:
                self.state_discarded += 1
            return
        template = self._new_window(0)
        try:
            previous = window_from_dict(saved.previous, template) if saved.previous else None
            window = window_from_dict(saved.current, template) if saved.current else None
            self.assembler.restore(saved.done, saved.counters)
        except (KeyError, TypeError, ValueError) as exc:
            discarded(self.id, exc)
            self.state_discarded += 1
            return
        if previous is not None:
            previous.pack()
        self.previous, self.window = previous, window
        self.traces_analysed = saved.counters.get("traces_analysed", 0)

    def _document(self) -> SavedState:
        counters = {name: getattr(self.assembler, name) for name in self.assembler.COUNTERS}
        return SavedState(
            version=1,
            # encoded at each save, not kept: at cardinality its encoded form is tens of MB,
            # and the default save_interval (one evaluation window) encodes it about once
            previous=None if self.previous is None else window_to_dict(self.previous),
            current=None if self.window is None else window_to_dict(self.window),
            done=self.assembler.done_ids(),
            counters={**counters, "traces_analysed": self.traces_analysed},
        )

    def flush(self, now_ns: int) -> None:
        if self.window is not None:
            self.window.pack()  # ~20 ms at 10,000 operations, once a flush interval
        self.announcer.save(self.context.store, self.id, now_ns)
        for name, state in ((BASELINES, self.baselines), (IMPACT, self.impact)):
            if state.dirty:
                try:
                    self.context.store.save_state(self.id, name, state.to_dict(), now_ns)
                except StoreWriteError:  # counted by the store; kept for the next flush
                    state.dirty = True
        try:
            self.state.flush(now_ns, self._document)
        except StoreWriteError:  # counted by the store; still dirty, so the next flush retries
            pass

    def consume_spans(self, batch: SpanBatch) -> None:
        spans, operations = batch.spans, kept_operations(batch)
        columns = batch.columns() if spans else None
        if self.threshold is not None:
            keep = [int.from_bytes(s.trace_id[8:], "big") < self.threshold for s in spans]
            spans = list(compress(spans, keep))
            operations = list(compress(operations, keep))
            columns = None
        self.state.mark_dirty()  # held traces and the counters moved
        self._analyse(self.assembler.add(spans, operations, columns))

    def tick(self, now_ns: int) -> list[Finding]:
        self._analyse(self.assembler.complete(now_ns), now_ns)
        window = self.window
        if window is None or now_ns < window.start_ns + self.interval_ns:
            return []
        window.settle()
        found = evaluate(self._judge(window), now_ns, self.id)
        self.baselines.learn_window(window)
        self.previous, self.window = window, None
        self.state.mark_dirty()
        self.context.series.publish_critical_path(
            critical_path_interval(window, self.interval_ns, self.id)
        )
        window.pack()  # closed: its exemplar heaps are only read from now on
        findings = self._with_impact(found)
        magnitudes = {finding.key: size for finding, size, _ in found}
        return self.announcer.evaluate(findings, magnitudes, now_ns)

    def _judge(self, window: Window) -> Judge:
        """Findings open at warning or worse are held to the lower bars (an info is not
        promoted by them), and those open as critical to the lower critical bars."""
        said = [f for f, _ in self.announcer.said() if f.source == self.id]
        held = {(f.kind.value, f.service, f.subject) for f in said if f.severity != Severity.INFO}
        critical = {
            (f.kind.value, f.service, f.subject) for f in said if f.severity == Severity.CRITICAL
        }
        return Judge(window, self.config, self.baselines, held, critical)

    def _with_impact(self, found: list[Found]) -> list[Finding]:
        """Each finding with its cost to users smoothed over windows (``impact.py``)."""
        costs = {f.key: cost for f, _, cost in found if cost is not None}
        self.impact.update(self.interval_ns / NS, costs)
        out = []
        for finding, _, _ in found:
            rate = self.impact.rate(finding.key) if finding.key in costs else None
            if rate is not None:
                attributes = {**finding.attributes, **rate.to_attributes()}
                finding = finding.model_copy(update={"attributes": attributes})
            out.append(finding)
        return out

    def finish(self, now_ns: int) -> list[Finding]:
        """Analyse every trace still held and evaluate the window now (end of a replay)."""
        self._analyse(self.assembler.drain(), now_ns)
        if self.window is None:
            return []
        self.window.start_ns = min(self.window.start_ns, now_ns - self.interval_ns)
        return self.tick(now_ns)

    def _analyse(self, traces: list[list[SpanRecord]], now_ns: int | None = None) -> None:
        if not traces:
            return
        if self.window is None:
            at = now_ns if now_ns is not None else max(s.end_ns for s in traces[0])
            self.window = self._new_window(at - at % self.interval_ns)
        self.analyser.add_traces(self.window, traces)
        self.traces_analysed += len(traces)
        self.state.mark_dirty()

    def _new_window(self, start_ns: int) -> Window:
        c = self.config
        return Window(start_ns, c.max_operations, c.max_fingerprints, c.max_routes, c.exemplars)

    def windows(self) -> list[Window]:
        """The last closed window and the one filling now (what the API reports)."""
        windows = [w for w in (self.previous, self.window) if w is not None]
        for window in windows:
            window.settle()
        return windows

    def snapshot(self) -> dict[str, Any]:
        windows = self.windows()
        return {
            "traces_held": len(self.assembler),
            "traces_analysed": self.traces_analysed,
            "evicted_early": self.assembler.evicted_early,
            "dropped_spans": self.assembler.dropped_spans,
            "late_spans": self.assembler.late_spans,
            "duplicate_spans": self.assembler.duplicate_spans,
            "suppressed_findings": self.announcer.suppressed,
            "state_discarded": self.state_discarded,
            "overflowed": sum(w.overflowed for w in windows),
            "ranking": ranking(windows, self.baselines, self.config.hot_route_share),
            "impact": self._open_impact(),
            **report(windows),
        }

    def _open_impact(self) -> dict[str, dict[str, float]]:
        """The current smoothed cost of every open finding, by finding key (what the
        recommendations rank by: the stored finding keeps the figures it was announced with)."""
        out = {}
        for finding, _ in self.announcer.said():
            rate = self.impact.rate(finding.key)
            if rate is not None and finding.source == self.id:
                out[finding.key] = rate.to_attributes()
        return out

    def shutdown(self) -> None:
        """Incomplete traces are analysed so the last snapshot includes them, and the
        windows are saved whatever the save interval (the pipeline flushed before)."""
        self._analyse(self.assembler.drain())
        try:
            self.state.close(self.assembler.now_ns, self._document)
        except StoreWriteError:  # counted by the store; this state is lost
            pass


FACTORY: Factory[BottlenecksConfig, Processor] = Factory(
    type="bottlenecks",
    config_model=BottlenecksConfig,
    create=BottlenecksProcessor,
    description="Trace assembly, critical path and self time, slow queries, N+1 and "
    "repeated calls, slow requests, checkpoint phases and memory growth.",
)
