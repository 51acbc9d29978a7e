"""The ``regression`` processor: baselines, regression tests, version comparisons, change points.

* Named baselines (``establish_baseline``) and runs against them (``run_regression_test``),
  judged by :func:`release.judge_release`; benchmarks arrive the same way through the API.
* Automatic baselines per service and operation from the SERVER spans seen during the first
  ``baseline_intervals`` closed span-metrics intervals of that series.
* What is compared (``keys.py``): entry operations (SERVER/CONSUMER by route) and statement
  fingerprints; never a span name that mixes statements, never framework-internal spans.
* Version comparisons: when ``service.version`` changes, each series' last samples of the old
  version against the first of the new one; the sequential test may call a regression early.
* Change points on each series' p95 per closed interval: entry operations from the series
  hub, statements from the spans counted here (``statements.py``); each change is described
  (``describe.py``) and matched with the release it coincides with, and judged against the
  service's other series over the same interval (``environment.py``): a change they all
  share is the environment's (load), not the operation's, and raises no finding.

What the API and the CLI read and do (named baselines, runs, trends, the analysis) is the
processor's :class:`analysis.RegressionService` (``processor.service``); both work on the
same :class:`holdings.Holdings` under its one lock.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import numpy as np
from numpy.typing import NDArray

from otel_perf.columns import SpanColumns
from otel_perf.component import Context, Factory, Processor
from otel_perf.findings import Finding
from otel_perf.model import SpanBatch, SpanKind
from otel_perf.processors.regression import drift
from otel_perf.processors.regression.aggregated import ordered_versions, samples_ms
from otel_perf.processors.regression.analysis import (
    Gauge,
    RegressionService,
    compare,
)
from otel_perf.processors.regression.baselines import Reservoir, add_to_reservoirs
from otel_perf.processors.regression.config import RegressionConfig
from otel_perf.processors.regression.findings import change_finding, version_finding
from otel_perf.processors.regression.holdings import Holdings
from otel_perf.processors.regression.intake import Keyed, Positions, groups_of, keyed_rows
from otel_perf.processors.regression.keys import STATEMENT_PREFIX, is_entry_series
from otel_perf.processors.regression.persistence import VERSIONS_DIRTY, RegressionState
from otel_perf.processors.regression.runs import finite
from otel_perf.processors.regression.sequential import msprt
from otel_perf.processors.regression.stats import SEQUENTIAL_SHARE
from otel_perf.processors.regression.usage import VERSION_USAGE_KEYS as USAGE_KEYS
from otel_perf.processors.regression.usage import Usage
from otel_perf.processors.regression.versions import Comparison
from otel_perf.series import SeriesInterval

NS = 1_000_000_000
RELEASE_SLACK_S = 30.0  # a release this close to a change's interval coincides with it


class RegressionProcessor(Processor):
    """Keeps baselines, runs and version samples; judges them with the rank test."""

    def __init__(self, context: Context, config: RegressionConfig) -> None:
        super().__init__(context)
        self.config = config
        self.held = Holdings.new(config)
        self.service = RegressionService(config, self.held, self.id)
        self.saved = RegressionState(context.store, self.id, config.save_interval)
        # (service, old, new) -> each route's log shift, and the routes with both versions;
        # rebuilt on every evaluation (drift.py)
        self._shifts: dict[tuple[str, str, str], dict[str, float]] = {}
        self._waiting: dict[tuple[str, str, str], set[str]] = {}
        self._unsubscribe = context.series.subscribe(self._interval)

    # -- intake -------------------------------------------------------------
    def consume_spans(self, batch: SpanBatch) -> None:
        columns = batch.columns()
        keyed = keyed_rows(columns, batch.spans)  # entry operations and statements only
        if keyed is None:
            return
        with self.held.lock:
            self.held.last_ns = max(self.held.last_ns, int(keyed.end_ns.max()))
            if keyed.one_version_per_service():
                versioned = self._add_grouped(keyed, columns)
            else:  # a service changes version inside the batch: the order matters
                versioned = self._add_each(keyed, columns)
            if versioned:
                self.held.dirty.add(VERSIONS_DIRTY)

    def _add_grouped(self, keyed: Keyed, columns: SpanColumns) -> bool:
        """Each (service, version, key)'s samples at once; True when some had a version."""
        held, versioned = self.held, False
        values_ms, end_ns = keyed.value_ms, keyed.end_ns
        for source, k, at in keyed.by_key():
            service, version = keyed.sources[source]
            key = keyed.keys[k]
            statement = key.startswith(STATEMENT_PREFIX)
            if version is not None:
                versioned = True
                held.versions.add_many(service, version, key, values_ms[at], end_ns[at])
                if statement:
                    held.version_usage.executions(service, version, key, values_ms[at])
                else:
                    held.version_usage.request(service, version, len(values_ms[at]))
            if statement:
                traces = columns.trace_id[keyed.groups.rows[at]]
                held.statements.add_many(service, key, end_ns[at], values_ms[at], traces)
        if self.config.baseline_intervals:  # else nothing is collected
            self._collect_servers(keyed, columns)
        return versioned

    def _collect_servers(self, keyed: Keyed, columns: SpanColumns) -> None:
        """The SERVER rows' samples, per automatic baseline (service, span name), each in
        batch order."""
        bounds = keyed.groups.bounds
        chosen = [
            g
            for g, name in enumerate(keyed.server_name)
            if name >= 0 and not keyed.keys[keyed.key[g]].startswith(STATEMENT_PREFIX)
        ]
        named = [(keyed.source[g], keyed.server_name[g]) for g in chosen]
        at: list[Positions]
        if len(set(named)) < len(named):  # a baseline in several groups: merged, in order
            chosen, at = self._merged_servers(keyed, chosen)
        else:
            at = [slice(bounds[g], bounds[g + 1]) for g in chosen]
        self._collect_each(
            [
                (
                    f"auto:{keyed.sources[keyed.source[g]][0]} "
                    f"{columns.strings[keyed.server_name[g]]}",
                    keyed.value_ms[positions],
                )
                for g, positions in zip(chosen, at, strict=True)
            ]
        )

    @staticmethod
    def _merged_servers(keyed: Keyed, chosen: list[int]) -> tuple[list[int], list[Positions]]:
        """One group of each (source, name) among ``chosen`` and the positions of all of
        their rows, in batch order."""
        bounds = keyed.groups.bounds
        at = np.concatenate([np.arange(bounds[g], bounds[g + 1]) for g in chosen])
        at = at[np.argsort(keyed.groups.rows[at], kind="stable")]  # batch order
        group = np.searchsorted(bounds, at, side="right") - 1
        source = np.array(keyed.source)[group]
        name = np.array(keyed.server_name)[group]
        by_name = groups_of(at.astype(np.int32), source * (max(keyed.server_name) + 2) + name + 1)
        firsts = [int(group[i]) for i in by_name.first]
        parts: list[Positions] = [
            by_name.rows[lo:hi] for lo, hi in itertools.pairwise(by_name.bounds)
        ]
        return firsts, parts

    def _add_each(self, keyed: Keyed, columns: SpanColumns) -> bool:
        """Span by span, in batch order; True when some had a version."""
        held, versioned = self.held, False
        versions, usage, statements = held.versions, held.version_usage, held.statements
        groups = keyed.groups
        group = np.repeat(np.arange(len(groups)), np.diff(groups.bounds))
        for at in np.argsort(groups.rows, kind="stable").tolist():
            row, g = int(groups.rows[at]), int(group[at])
            service, version = keyed.sources[keyed.source[g]]
            key = keyed.keys[keyed.key[g]]
            value_ms, end_ns = float(keyed.value_ms[at]), int(keyed.end_ns[at])
            statement = key.startswith(STATEMENT_PREFIX)
            if version is not None:
                versioned = True
                versions.add(service, version, key, value_ms, end_ns)
                if statement:
                    usage.execution(service, version, key, value_ms)
                else:
                    usage.request(service, version)
            if statement:
                trace_id = columns.trace_id[row].tobytes()
                statements.add(service, key, end_ns, value_ms, trace_id)
            elif columns.kind[row] == SpanKind.SERVER:
                name = columns.strings[columns.name[row]]
                self._collect(f"auto:{service} {name}", keyed.value_ms[at : at + 1])
        return versioned

    def _collect_each(self, named: list[tuple[str, NDArray[np.float64]]]) -> None:
        """:meth:`_collect` of each (distinct) name's values, the reservoirs' slots drawn
        together."""
        pairs = []
        for name, values_ms in named:
            reservoir = self._reservoir(name)
            if reservoir is not None:
                pairs.append((reservoir, values_ms))
        add_to_reservoirs(pairs)

    def _reservoir(self, name: str) -> Reservoir | None:
        """Where ``name``'s samples are collected; None when it is not (any more, or the
        reservoirs are full)."""
        if name in self.held.baselines:
            return None
        entry = self.held.collecting.get(name)
        if entry is None:
            if len(self.held.collecting) >= self.config.max_series:
                return None
            entry = self.held.collecting[name] = (Reservoir(self.config.reservoir_size), 0)
        return entry[0]

    def _collect(self, name: str, values_ms: NDArray[np.float64]) -> None:
        if not (self.config.baseline_intervals and values_ms.size):
            return
        reservoir = self._reservoir(name)
        if reservoir is not None:
            reservoir.add_many(values_ms)

    def _interval(self, interval: SeriesInterval) -> None:
        if interval.rollup:
            return
        with self.held.lock:
            if interval.aggregated:  # the analysis tier: no spans, per-version histograms
                self._aggregated_samples(interval)
            for key, red in interval.values.items():
                if key.is_overflow or not red.calls:
                    continue
                p95_ms = red.duration_s.quantile(0.95) * 1000
                name = f"auto:{key.service} {key.operation}"
                self._count_interval(name, interval.end_ns)
                if name in self.held.baselines:  # the gauges read it beside its baseline
                    self.held.current_p95[name] = p95_ms  # (not one per span-metrics series)
                if is_entry_series(key.span_kind, key.operation):
                    length_s = (interval.end_ns - interval.start_ns) / 1e9
                    usage = Usage(red.calls, 0, red.duration_s.sum * 1000, length_s)
                    self._observe(key.service, key.operation, interval.end_ns, p95_ms, usage)
            closed = self.held.statements.close(interval.start_ns, interval.end_ns)
            for service, statement, p95_ms, usage in closed:
                self._observe(service, statement, interval.end_ns, p95_ms, usage)

    def _release_near(self, service: str, point: dict[str, Any]) -> dict[str, Any] | None:
        """The version change that coincides with a change point: first seen within its
        location interval, widened by one step of the series on each side."""
        low, high = point.get("time_low_s"), point.get("time_high_s")
        if low is None or high is None:
            return None
        step = RELEASE_SLACK_S
        return self.held.versions.release_near(
            service, int((low - step) * NS), int((high + step) * NS)
        )

    def _observe(
        self, service: str, operation: str, end_ns: int, p95_ms: float, usage: Usage | None = None
    ) -> None:
        for point in self.held.changes.observe(service, operation, end_ns, p95_ms, usage):
            point["release"] = self._release_near(service, point)
            if point.get("kind") == "level" and not point.get("call_change"):
                environment = self.held.changes.environment(point["series"], point)
                if environment is not None:  # judged against the service's other series
                    point.update(environment.to_dict(), environment_note=environment.note())
            self.held.change_points.append(point)
            finding = change_finding(service, operation, point, end_ns, self.id)
            if finding is not None:
                self.held.pending.append(finding)

    def _aggregated_samples(self, interval: SeriesInterval) -> None:
        self.held.dirty.add(VERSIONS_DIRTY)
        self.held.last_ns = max(self.held.last_ns, interval.end_ns)
        limit = self.config.version_window
        for key, red in interval.values.items():
            if key.span_kind == SpanKind.SERVER and not key.is_overflow:  # auto baselines
                seed = f"{key.label()} {interval.start_ns}"
                values_ms = samples_ms(red.duration_s, self.config.reservoir_size, seed)
                self._collect(f"auto:{key.service} {key.operation}", np.array(values_ms))
        for key, versions in interval.versions.items():
            if not is_entry_series(key.span_kind, key.operation) or key.is_overflow:
                continue
            current = self.held.versions.current.get(key.service)
            for version in ordered_versions(dict(versions), current):
                seed = f"{key.label()} {version} {interval.start_ns}"
                for value_ms in samples_ms(versions[version].duration_s, limit, seed):
                    self.held.versions.add(
                        key.service, version, key.operation, value_ms, interval.end_ns
                    )

    def _count_interval(self, name: str, end_ns: int) -> None:
        entry = self.held.collecting.get(name)
        if entry is None:
            return
        reservoir, intervals = entry[0], entry[1] + 1
        self.held.collecting[name] = (reservoir, intervals)
        if intervals >= self.config.baseline_intervals:
            del self.held.collecting[name]
            source = f"auto: first {intervals} intervals of span metrics"
            try:
                self.service.establish_baseline(
                    name, reservoir.values, source=source, now_ns=end_ns
                )
            except ValueError:  # the baselines are full: counted, like any other overflow
                self.held.untracked += 1

    # -- evaluation ---------------------------------------------------------
    def tick(self, now_ns: int) -> list[Finding]:
        return self._evaluate(now_ns, final=False)

    def finish(self, now_ns: int) -> list[Finding]:
        return self._evaluate(now_ns, final=True)

    def _evaluate(self, now_ns: int, final: bool) -> list[Finding]:
        with self.held.lock:
            if self.held.versions.pending:  # ready() takes comparisons out of it
                self.held.dirty.add(VERSIONS_DIRTY)
            self._shifts.clear()  # the control routes' shifts, as of this tick
            self._waiting.clear()
            for comparison in self.held.versions.ready(final, early=self._called_early):
                self._judge_versions(comparison, now_ns)
            found, self.held.pending = self.held.pending, []
            return found

    def _called_early(self, comparison: Comparison) -> bool:
        """The sequential test already calls a regression on the new version's samples (on
        the overlap, or relative to the control routes, when there is one)."""
        c = self.config
        basis = self._basis(comparison, early=True)
        if basis is None or len(basis.old) < c.min_samples:
            return False
        alpha = SEQUENTIAL_SHARE * c.false_alarm_rate
        return msprt(basis.old, basis.new, alpha=alpha, up_is_worse=c.direction == "up").called

    def _basis(self, c: Comparison, early: bool) -> drift.Basis | None:
        """What to compare (``drift.py``): the canary overlap, else relative to the control
        routes, else before/after. Early looks get None for a canary (the sequential test
        takes samples in arrival order, and under changing load the overlap's order is not
        exchangeable) and while control routes may still come."""
        if early and drift.ran_together(c.old_ns, c.new_ns):
            return None  # a canary: judged on its overlap once the window is full
        canary = drift.overlap(
            c.old_samples, c.old_ns, c.new_samples, c.new_ns, self.config.min_samples
        )
        if canary is not None:
            return canary
        pair = (c.service, c.old_version, c.new_version)
        shifts = self._shifts.get(pair)
        if shifts is None:  # once per service and tick, however many routes are pending
            pairs = {  # routes only: a statement's shift follows how it is called (usage.py)
                op: samples
                for op, samples in self.held.versions.pairs(*pair).items()
                if not op.startswith(STATEMENT_PREFIX)
            }
            self._shifts[pair] = shifts = drift.route_shifts(pairs, self.config.min_samples)
            self._waiting[pair] = set(pairs)
        control = drift.control_drift(shifts, c.operation)
        if control is not None:
            return drift.controlled(c.old_samples, c.new_samples, *control)
        if early and len(self._waiting[pair] - {c.operation}) >= drift.MIN_CONTROL_ROUTES:
            return None  # enough other routes to be the control once they fill: wait
        return drift.Basis("before_after", c.old_samples, c.new_samples)

    def _judge_versions(self, c: Comparison, now_ns: int) -> None:
        basis = self._basis(c, early=False)
        assert basis is not None  # only an early look waits for a control
        verdict = compare(self.config, basis.old, basis.new, tolerate_ms=True)
        verdict = dataclasses.replace(verdict, reason=f"{verdict.reason}; {basis.note()}")
        context: dict[str, Any] = {"basis": basis.kind, "environment_drift": basis.drift}
        if c.operation.startswith(STATEMENT_PREFIX):
            usage = self.held.version_usage.call_change(
                c.service, c.operation, c.old_version, c.new_version
            )
            context.update(usage)
        if basis.kind == "control":
            raw = compare(self.config, c.old_samples, c.new_samples, tolerate_ms=True)
            context["unadjusted_outcome"] = raw.outcome
            verdict = drift.clear_only(verdict, raw)
        self.held.comparisons.append(
            finite(
                {
                    "service": c.service,
                    "operation": c.operation,
                    "old_version": c.old_version,
                    "new_version": c.new_version,
                    "time_ns": now_ns,
                    "outcome": verdict.outcome,
                    **context,
                    "verdict": verdict.to_dict(),
                }
            )
        )
        self.held.dirty.add(VERSIONS_DIRTY)
        kept = ("basis", "environment_drift", *USAGE_KEYS)
        attributes = {k: context[k] for k in kept if k in context}
        finding = version_finding(c, verdict, now_ns, self.id, attributes)
        if finding is not None:
            self.held.pending.append(finding)

    # -- reading (the service's views) --------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {**self.service.analysis(), "state_discarded": self.saved.discarded}

    def gauges(self) -> list[Gauge]:
        return self.service.gauges()

    # -- state (persistence.py) ----------------------------------------------
    def start(self) -> None:
        with self.held.lock:
            self.saved.restore(self.held)

    def flush(self, now_ns: int) -> None:
        with self.held.lock:
            self.saved.flush(now_ns, self.held)

    def save(self, now_ns: int) -> None:
        """Write what changed to the store now."""
        with self.held.lock:
            self.saved.save(now_ns, self.held)

    def shutdown(self) -> None:
        self._unsubscribe()
        self._unsubscribe = lambda: None


FACTORY: Factory[RegressionConfig, Processor] = Factory(
    type="regression",
    config_model=RegressionConfig,
    create=RegressionProcessor,
    description="Baselines and regression tests (rank, tail and sequential tests), version "
    "comparisons, change points and trends of latency per route and statement, benchmarks.",
)
