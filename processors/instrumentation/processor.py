"""The ``instrumentation`` processor: per service, which signals (traces, metrics, logs) and
span categories (server, client, db, messaging, internal) arrive, and an ``info``
recommendation when a service's server spans go a whole window without any client, DB or
messaging span while their p95 is long: the time is all self time, which is what an
uninstrumented DB driver or HTTP client looks like.

Services are bounded by ``max_services``; records of services past the limit are counted
per signal (``overflowed``). What each service sent and its two server-time windows are
saved (at most once per ``save_interval``, and at shutdown), so a restart judges the same
window as a run without one. A saved document that is damaged is dropped on start (one
warning, counted in ``state_discarded``).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import asdict
from typing import Any

from otel_perf.component import Context, Factory, Processor
from otel_perf.component.announce import Announcer
from otel_perf.component.state import PersistedState
from otel_perf.findings import Finding, Kind, Severity
from otel_perf.model import LogBatch, MetricBatch, SpanBatch
from otel_perf.processors.instrumentation.categories import server_windows, span_categories
from otel_perf.processors.instrumentation.config import InstrumentationConfig
from otel_perf.processors.instrumentation.coverage import (
    CATEGORIES,
    NS,
    SIGNALS,
    Coverage,
    Verdict,
    judge,
)
from otel_perf.processors.instrumentation.state import COVERAGE, SavedService, document, restore
from otel_perf.store import StoreWriteError

STATE = "coverage"
log = logging.getLogger("otel_perf.processors.instrumentation")
RECOMMENDATION = "check_instrumentation"


class InstrumentationProcessor(Processor):
    """Tracks what each service sends and judges whether its traces miss exit spans."""

    def __init__(self, context: Context, config: InstrumentationConfig) -> None:
        super().__init__(context)
        self.config = config
        self.window_ns = int(config.window * NS)
        self.services: dict[str, Coverage] = {}
        self.overflowed: Counter[str] = Counter()
        self.verdicts: dict[str, Verdict] = {}
        self.current: dict[str, tuple[Finding, float]] = {}  # service -> finding, magnitude
        self.announcer = Announcer(int(config.quiet_period * NS), max_keys=config.max_services)
        self._lock = threading.Lock()  # the API reads from another thread
        self.state = PersistedState(context.store, self.id, STATE, COVERAGE, config.save_interval)
        self.saved_ns = 0  # the latest event time seen by flush, for the save at shutdown

    # -- intake -------------------------------------------------------------
    def _coverage(self, service: str, signal: str, n: int) -> Coverage | None:
        coverage = self.services.get(service)
        if coverage is None:
            if len(self.services) >= self.config.max_services:
                self.overflowed[signal] += n
                return None
            coverage = self.services[service] = Coverage(self.window_ns)
        self.state.mark_dirty()
        return coverage

    def consume_spans(self, batch: SpanBatch) -> None:
        """Spans counted per (service, category) and SERVER durations per service, on the
        batch's columns (``categories.py``)."""
        columns = batch.columns()
        by_category = span_categories(columns)
        servers = server_windows(columns, self.window_ns)
        with self._lock:
            for service, name, count, first_ns, last_ns in by_category:
                coverage = self._coverage(service, "traces", count)
                if coverage is None:
                    continue
                coverage.saw("traces", count, first_ns, last_ns)
                coverage.saw_spans(name, count, first_ns, last_ns)
            for service, windows in servers:
                known = self.services.get(service)
                if known is None:
                    continue  # past max_services: counted above
                known.server_times(windows)

    def consume_metrics(self, batch: MetricBatch) -> None:
        self._signal("metrics", [(p.service_name, p.time_ns) for p in batch.points])

    def consume_logs(self, batch: LogBatch) -> None:
        self._signal("logs", [(r.service_name, r.time_ns) for r in batch.records])

    def _signal(self, signal: str, items: list[tuple[str, int]]) -> None:
        times: dict[str, list[int]] = {}
        for service, t_ns in items:
            times.setdefault(service, []).append(t_ns)
        with self._lock:
            for service, ts in times.items():
                coverage = self._coverage(service, signal, len(ts))
                if coverage is not None:
                    coverage.saw(signal, len(ts), min(ts), max(ts))

    # -- evaluation ---------------------------------------------------------
    def tick(self, now_ns: int) -> list[Finding]:
        with self._lock:
            for service, coverage in self.services.items():
                verdict = judge(
                    coverage,
                    now_ns,
                    self.config.window,
                    self.config.min_self_time,
                    self.config.min_server_spans,
                )
                self.verdicts[service] = verdict
                if verdict.state == "gap":  # said once; its p95 moving is not news
                    self.current[service] = (self._finding(service, verdict, now_ns), 0.0)
                elif verdict.state == "ok":
                    self.current.pop(service, None)
            held = list(self.current.values())
            magnitudes = {finding.key: size for finding, size in held}
            return self.announcer.evaluate([f for f, _ in held], magnitudes, now_ns)

    def _finding(self, service: str, verdict: Verdict, now_ns: int) -> Finding:
        seen = sorted(self.services[service].categories) if service in self.services else []
        return Finding(
            kind=Kind.RECOMMENDATION,
            severity=Severity.INFO,
            service=service,
            subject=f"{service} instrumentation",
            time_ns=now_ns,
            summary=f"{service}: {verdict.text}; check that its database driver and HTTP "
            "clients are instrumented (traces show no time outside the process)",
            attributes={
                "recommendation": RECOMMENDATION,
                "no_exit_spans_s": round(verdict.no_exit_s, 3),
                "server_spans": verdict.server_spans,
                "server_p95_ms": round(verdict.p95_s * 1000, 3),
                "ever_exit_spans": verdict.ever_exit,
                "span_categories": seen,
                "window_s": self.config.window,
            },
            source=self.id,
        )

    # -- state --------------------------------------------------------------
    def start(self) -> None:
        self.announcer.load(self.context.store, self.id)
        for finding, magnitude in self.announcer.said():
            self.current[finding.service] = (finding, magnitude)
        saved = self.state.load()  # None, counted and logged when it cannot be read
        if saved is not None:
            self.services = restore(saved, self.window_ns, self.config.max_services)

    def flush(self, now_ns: int) -> None:
        with self._lock:
            self.announcer.save(self.context.store, self.id, now_ns)
            self.saved_ns = max(self.saved_ns, now_ns)
            try:
                self.state.flush(now_ns, self._document)
            except StoreWriteError:
                return  # counted by the store; still dirty, saved at the next flush

    def shutdown(self) -> None:
        with self._lock:
            try:
                self.state.close(self.saved_ns, self._document)
            except StoreWriteError:
                log.warning("%s: state not saved at shutdown (the store refused it)", self.id)

    def _document(self) -> dict[str, SavedService]:
        return document(self.services)

    # -- reads (API thread) -------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            services = {
                service: {
                    **_seen(coverage),
                    "missing": [c for c in CATEGORIES if c not in coverage.categories],
                    "verdict": _verdict(self.verdicts.get(service)),
                }
                for service, coverage in sorted(self.services.items())
            }
            return {
                "window_s": self.config.window,
                "services": services,
                "limit": self.config.max_services,
                "overflowed": {s: self.overflowed[s] for s in SIGNALS},
                "current_findings": [f.model_dump(mode="json") for f, _ in self.current.values()],
                "state_discarded": self.state.discarded,
            }


def _seen(coverage: Coverage) -> dict[str, Any]:
    return {
        "signals": {name: asdict(seen) for name, seen in sorted(coverage.signals.items())},
        "spans": {name: asdict(seen) for name, seen in sorted(coverage.categories.items())},
    }


def _verdict(verdict: Verdict | None) -> dict[str, Any]:
    if verdict is None:
        return {"state": "unknown", "text": "not judged yet"}
    return {
        "state": verdict.state,
        "text": verdict.text,
        "no_exit_spans_s": round(verdict.no_exit_s, 3),
        "server_spans": verdict.server_spans,
        "server_p95_ms": round(verdict.p95_s * 1000, 3),
    }


FACTORY: Factory[InstrumentationConfig, Processor] = Factory(
    type="instrumentation",
    config_model=InstrumentationConfig,
    create=InstrumentationProcessor,
    description="Signals and span kinds per service; a hint when traces show no client, "
    "DB or messaging spans while server time is long.",
)
