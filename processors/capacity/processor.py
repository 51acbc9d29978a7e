"""The ``capacity`` processor: usage history, forecasts, time to thresholds, right-sizing, cost.

Usage comes from received metrics (CPU and memory of hosts, processes, containers, pods and
any configured metric), from span metrics (requests per second per service) and from
:meth:`CapacityProcessor.record_usage`. History lives in the store (raw, 5 min, 1 h). Each
resource is forecast at most once per ``forecast_interval`` of event time; the latest
analysis is cached; :class:`~.reads.CapacityViews` (``processor.views``) reads it for the API
from another thread (one lock guards the state).
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from otel_perf.component import Context, Factory, Processor, gauges
from otel_perf.component.announce import Announcer
from otel_perf.component.state import PersistedState
from otel_perf.findings import Finding
from otel_perf.model import MetricBatch, SpanKind
from otel_perf.processors.capacity.analysis import NS, Analysis, Inputs, analyse
from otel_perf.processors.capacity.config import CapacityConfig
from otel_perf.processors.capacity.findings import findings_of
from otel_perf.processors.capacity.history import COARSE, FINE, RAW, Series, UsageHistory
from otel_perf.processors.capacity.reads import CapacityViews
from otel_perf.processors.capacity.settings import inputs_for, resource_for
from otel_perf.processors.capacity.state import RESOURCES, STATE, Resource, Resources
from otel_perf.processors.capacity.usage import ResourceInfo, UsageExtractor
from otel_perf.processors.capacity.views import gauge_rows
from otel_perf.series import SeriesInterval
from otel_perf.store import StoreWriteError

DAY_NS = 86_400 * NS
#: the span kinds that are requests a service serves (what ``<service>/request.rate`` counts)
ENTRY_KINDS = frozenset({SpanKind.SERVER, SpanKind.CONSUMER})

gauges.register("otel_perf.capacity.usage", "1", "Latest usage per capacity resource.")
gauges.register("otel_perf.capacity.forecast", "1", "Forecast usage per resource and horizon.")
gauges.register("otel_perf.capacity.forecast.lower", "1", "Lower bound of the forecast's interval.")
gauges.register("otel_perf.capacity.forecast.upper", "1", "Upper bound of the forecast's interval.")
gauges.register(
    "otel_perf.capacity.time_to_threshold", "d", "Days until the forecast reaches a threshold."
)
gauges.register(
    "otel_perf.capacity.recommended_request",
    "1",
    "Right-sizing target in cores or bytes (attribute unit: {cpu} or By).",
)
gauges.register(
    "otel_perf.capacity.target_utilization",
    "1",
    "Right-sizing target of a utilization series, 0 to 1.",
)


class CapacityProcessor(Processor):
    """Records usage per resource, forecasts it and announces crossings and right-sizing."""

    def __init__(self, context: Context, config: CapacityConfig) -> None:
        super().__init__(context)
        self.config = config
        self.lock = threading.RLock()  # the views read from the API thread
        retention = {
            RAW: config.raw_retention,
            FINE: config.fine_retention,
            COARSE: config.history_window,
        }
        self.history = UsageHistory(
            context.store, self.id, retention, config.raw_min_interval, config.max_pending
        )
        self.extractor = UsageExtractor(config)
        self.known: dict[str, ResourceInfo] = {}
        self.first_ns: dict[str, int] = {}
        self.latest_ns: dict[str, int] = {}
        self.dropped_resources = 0
        self.analyses: dict[str, Analysis] = {}
        self.due_ns: dict[str, int] = {}
        self.current: dict[str, Finding] = {}
        self.magnitudes: dict[str, float] = {}
        self.announcer = Announcer(int(config.quiet_period * NS), max_keys=4 * config.max_resources)
        # saved on every flush after a change, unthrottled: it changes only on a new resource
        self.state = PersistedState(context.store, self.id, STATE, RESOURCES, 0.0)
        self._load()
        self._unsubscribe = context.series.subscribe(self._interval)
        self.views = CapacityViews(self)

    # -- intake -------------------------------------------------------------
    def record_usage(
        self,
        resource: str,
        value: float,
        time_ns: int | None = None,
        *,
        service: str = "",
        kind: str | None = None,
        unit: str | None = None,
    ) -> bool:
        """Record one usage sample of ``resource`` (thread-safe); False when it was dropped.

        ``time_ns`` defaults to the wall clock. A name configured under ``resources`` takes
        that rule's kind, unit and thresholds; otherwise ``kind`` defaults from the name.
        """
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValueError(f"usage of {resource!r} must be a finite number, got {value!r}")
        info = resource_for(self.config, resource, service, kind, unit)
        with self.lock:
            return self._record(info, time.time_ns() if time_ns is None else time_ns, value)

    def consume_metrics(self, batch: MetricBatch) -> None:
        with self.lock:
            for sample in self.extractor.samples(batch.points):
                self._record(sample.resource, sample.time_ns, sample.value)

    def _interval(self, interval: SeriesInterval) -> None:
        if interval.rollup or not self.config.request_rate:
            return
        calls: dict[str, int] = {}
        for key, red in interval.values.items():
            if key.span_kind in ENTRY_KINDS:  # requests served, not every call made inside
                calls[key.service] = calls.get(key.service, 0) + red.calls
        with self.lock:
            for service, count in calls.items():
                info = ResourceInfo(f"{service}/request.rate", service, "calls", "requests", "1/s")
                self._record(info, interval.end_ns, count / interval.resolution_s)

    def _record(self, info: ResourceInfo, t_ns: int, value: float) -> bool:
        known = self.known.get(info.name)
        if known is None:
            if len(self.known) >= self.config.max_resources:
                self.dropped_resources += 1
                return False
            self.known[info.name] = known = info
            self.state.mark_dirty()
        if not self.history.add(known.name, t_ns, float(value)):
            return False
        self.first_ns[known.name] = min(self.first_ns.get(known.name, t_ns), t_ns)
        self.latest_ns[known.name] = max(self.latest_ns.get(known.name, t_ns), t_ns)
        return True

    # -- evaluation ---------------------------------------------------------
    def tick(self, now_ns: int) -> list[Finding]:
        with self.lock:
            due = sorted(
                (self.due_ns.get(name, 0), name)
                for name in self.known
                if self.due_ns.get(name, 0) <= now_ns
            )[: self.config.max_forecasts_per_tick]
            if not due:
                return []
            for _, name in due:
                self._analyse(name, now_ns)
                self.due_ns[name] = now_ns + int(self.config.forecast_interval * NS)
            return self.announcer.evaluate(list(self.current.values()), self.magnitudes, now_ns)

    def _analyse(self, name: str, now_ns: int) -> Analysis:
        info = self.known[name]
        analysis = analyse(self.series(name, now_ns), now_ns, self.inputs(info))
        self.analyses[name] = analysis
        for key in [k for k, f in self.current.items() if f.attributes.get("resource") == name]:
            del self.current[key]
            del self.magnitudes[key]
        for finding, magnitude in findings_of(info, analysis, self.config, self.id, now_ns):
            self.current[finding.key] = finding
            self.magnitudes[finding.key] = magnitude
        return analysis

    def inputs(self, info: ResourceInfo) -> Inputs:
        observed = self.extractor.limits.get((info.service, info.kind))
        return inputs_for(self.config, info, observed)

    def series(self, name: str, now_ns: int) -> Series:
        """1 h buckets once two days are recorded, else 5-minute buckets."""
        end_ns = max(now_ns, self.latest_ns.get(name, now_ns))
        first = self.first_ns.get(name, end_ns)
        if end_ns - first >= 2 * DAY_NS:
            since = end_ns - int(self.config.history_window * NS)
            return self.history.series(name, COARSE, since)
        return self.history.series(name, FINE, end_ns - int(self.config.fine_retention * NS))

    def flush(self, now_ns: int) -> None:
        with self.lock:
            self.history.flush(now_ns)
            self.announcer.save(self.context.store, self.id, now_ns)
            try:
                self.state.save(now_ns, self._document)
            except StoreWriteError:
                return  # counted by the store; still dirty, saved at the next flush

    def _document(self) -> Resources:
        return {
            name: Resource.of(info, self.first_ns.get(name)) for name, info in self.known.items()
        }

    def _load(self) -> None:
        self.announcer.load(self.context.store, self.id)
        # what was concluded before the restart stands until each resource is analysed again
        for finding, magnitude in self.announcer.said():
            self.current[finding.key] = finding
            self.magnitudes[finding.key] = magnitude
        saved = self.state.load()
        for name, body in (saved or {}).items():
            self.known[name] = body.info()
            coarse = self.history.series(name, COARSE)
            if body.first_ns is not None:
                self.first_ns[name] = body.first_ns
            if coarse.buckets:
                self.latest_ns[name] = max(b.last_ns for b in coarse.buckets)
                self.first_ns.setdefault(name, coarse.starts_ns[0])

    def shutdown(self) -> None:
        self._unsubscribe()
        self._unsubscribe = lambda: None

    # -- what the views read (under ``lock``) ---------------------------------
    def latest(self, resource: str) -> Analysis:
        """The cached analysis, made now when there is none yet; KeyError when unknown."""
        if resource not in self.known:
            raise KeyError(resource)
        analysis = self.analyses.get(resource)
        if analysis is None:
            analysis = self._analyse(resource, self.latest_ns.get(resource, 0))
        return analysis

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            open_findings = sorted(self.current.values(), key=lambda f: (f.kind, f.subject))
            return {
                "resources": len(self.known),
                "forecasts": len(self.analyses),
                "current_findings": [f.model_dump(mode="json") for f in open_findings],
                **self.counters(),
            }

    def counters(self) -> dict[str, Any]:
        return {
            "dropped_resources": self.dropped_resources,
            "rejected_points": self.extractor.rejected,
            "suppressed_findings": self.announcer.suppressed,
            "history": self.history.view(),
        }

    def gauges(self) -> list[tuple[str, float, dict[str, str]]]:
        with self.lock:
            rows: list[tuple[str, float, dict[str, str]]] = []
            for name, analysis in self.analyses.items():
                rows.extend(gauge_rows(self.known[name], analysis))
            return rows


FACTORY: Factory[CapacityConfig, Processor] = Factory(
    type="capacity",
    config_model=CapacityConfig,
    create=CapacityProcessor,
    description="Usage history, forecasts with intervals, time to thresholds, seasonality, "
    "right-sizing and cost.",
)
