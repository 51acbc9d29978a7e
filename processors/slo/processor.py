"""The ``slo`` processor: objectives, SLIs per minute, budgets, burn-rate alerts."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from otel_perf.component import Context, Factory, Processor
from otel_perf.component.state import (
    Document,
    PersistedState,
    PersistedStates,
    changed_keys,
)
from otel_perf.findings import Finding
from otel_perf.model import MetricBatch, MetricPoint, MetricType, SpanBatch
from otel_perf.processors.slo.aggregates import interval_events
from otel_perf.processors.slo.baseline import RouteBaselines
from otel_perf.processors.slo.config import (
    PERCENTILES,
    SLOConfig,
    defaults_for,
    expand,
    route_defaults,
)
from otel_perf.processors.slo.gauges import objective_gauges
from otel_perf.processors.slo.objective import Objective, SLIKind
from otel_perf.processors.slo.saved import (
    DEFAULT_SERVICES,
    ROUTE_BASELINES,
    DefaultServices,
    LearnedRoutes,
    SavedObjective,
)
from otel_perf.processors.slo.sources import (
    MINUTE_NS,
    REQUEST_KINDS,
    MetricStreams,
    histogram_events,
    span_events,
    unit_scale,
)
from otel_perf.processors.slo.state import ObjectiveState
from otel_perf.series import SeriesInterval

HISTOGRAMS = (MetricType.HISTOGRAM, MetricType.EXPONENTIAL_HISTOGRAM)
M = TypeVar("M", bound=BaseModel)


class SLOProcessor(Processor):
    """Keeps every objective's minute counts and evaluates them on event time."""

    def __init__(self, context: Context, config: SLOConfig) -> None:
        super().__init__(context)
        self.config = config
        interval = config.save_interval
        self.objective_state = PersistedStates(
            context.store, self.id, Document(SavedObjective), interval
        )  # one document per objective, named by it
        self.default_state = PersistedState(
            context.store, self.id, DEFAULT_SERVICES, DefaultServices, interval
        )
        self.routes_state = PersistedState(
            context.store, self.id, ROUTE_BASELINES, LearnedRoutes, interval
        )
        self.states: dict[str, ObjectiveState] = {}
        self._parts: dict[Any, Any] = {}  # windows and rule tuples, one of each kind
        self.by_service: dict[str, list[ObjectiveState]] = {}
        for objective in self._configured():
            self._track(objective)
        self.explicit_services = frozenset(self.by_service)
        self.default_services: set[str] = set()
        self.untracked_services = 0
        self.streams = MetricStreams(config.max_streams)
        self.ratio_pending: dict[tuple[str, int], list[float]] = {}
        self.evaluated_ns = 0
        # the analysis tier has no spans: it counts the intervals merged from the trace tier
        self._unsubscribe = context.series.subscribe(self._interval)
        self.baselines = self._baselines()
        self._restore_defaults()

    def _restore_defaults(self) -> None:
        """Track again the services that had suggested objectives before a restart, so
        health, ``slo`` and recommendations see the same objectives from the first tick."""
        saved = self._load(self.default_state, DefaultServices)
        for service in [] if saved is None else saved.root:
            if service and service not in self.by_service:
                self._defaults(service)
        self.default_state.dirty = False
        learned = self._load(self.routes_state, LearnedRoutes)
        if self.baselines is not None and learned is not None:
            for (service, route), baseline in list(self.baselines.resume(learned)):
                self._track_route(service, route, baseline)

    def _load(self, state: PersistedState[M], model: type[M]) -> M | None:
        """A saved document; None when there is none or it does not fit (dropped: counted
        in ``state_discarded``, logged)."""
        raw = self.context.store.load_state(self.id, state.name)
        if raw is None:
            return None
        try:
            return model.model_validate(raw)
        except ValueError as exc:  # pydantic's ValidationError too
            self.objective_state.discard(state.name, exc)
            return None

    def _baselines(self) -> RouteBaselines | None:
        routes = self.config.defaults.routes
        if not (self.config.defaults.enabled and routes.enabled):
            return None
        labels = [label for label in PERCENTILES if getattr(self.config.defaults.latency, label)]
        return RouteBaselines(
            {label: PERCENTILES[label] for label in labels},
            int(routes.learn * 1e9),
            routes.min_requests,
            routes.max_routes,
        )

    def _track_route(self, service: str, route: str, baseline: dict[str, float]) -> None:
        """Track a route's suggested latency objectives (its service's defaults first)."""
        self.objectives_of(service)
        for objective in route_defaults(service, route, baseline, self.config):
            if objective.name not in self.states:
                self._track(objective)

    def _configured(self) -> list[Objective]:
        rules, min_events = self.config.rules(), self.config.min_events
        objectives = [o for s in self.config.objectives for o in expand(s, rules, min_events)]
        if self.config.openslo:
            from otel_perf.processors.slo.openslo import load_openslo

            objectives += load_openslo([Path(p) for p in self.config.openslo])
        return objectives

    def _track(self, objective: Objective) -> ObjectiveState:
        objective = self._shared_parts(objective)
        state = ObjectiveState.new(objective, int(self.config.observation_gap * 1e9))
        saved = self.objective_state.load(objective.name)
        if saved is not None:
            try:
                state.restore_saved(saved)
            except ValueError as exc:  # the rings do not fit: this objective starts empty
                state = ObjectiveState.new(objective, int(self.config.observation_gap * 1e9))
                self.objective_state.discard(objective.name, exc)
        self.states[objective.name] = state
        self.by_service.setdefault(objective.service, []).append(state)
        return state

    def _shared_parts(self, objective: Objective) -> Objective:
        """``objective`` holding the window, the rules and the set of given field names
        that equal objectives already hold: the suggested objectives of thousands of
        services share them (~900 B each, most of it pydantic's set of the fields given;
        the objective is frozen, so nothing changes them)."""
        given = frozenset(objective.model_fields_set)
        parts = {
            "window": self._parts.setdefault(objective.window, objective.window),
            "rules": self._parts.setdefault(objective.rules, objective.rules),
        }
        fields_set = self._parts.setdefault(given, set(given))
        values = {**dict(objective), **parts}  # validated already: constructed as it is
        return Objective.model_construct(_fields_set=fields_set, **values)

    def objectives_of(self, service: str) -> list[Objective]:
        """The service's objectives; the defaults on first sight when it has none."""
        states = self.by_service.get(service)
        if states is None:
            states = self._defaults(service)
        return [s.objective for s in states]

    def _defaults(self, service: str) -> list[ObjectiveState]:
        if not self.config.defaults.enabled:
            return []
        if len(self.default_services) >= self.config.max_services:
            self.untracked_services += 1
            return []
        self.default_services.add(service)
        self.default_state.mark_dirty()
        return [self._track(o) for o in defaults_for(service, self.config)]

    # -- intake -------------------------------------------------------------
    def consume_spans(self, batch: SpanBatch) -> None:
        span_events(batch, self._objectives_for, self._add)

    def _objectives_for(self, service: str, requests: int) -> list[Objective]:
        """The service's objectives for a group of ``requests`` request spans; an untracked
        service is asked for once per request, as each one counts in ``untracked_services``."""
        objectives = self.objectives_of(service)
        if service not in self.by_service:
            for _ in range(requests - 1):
                self.objectives_of(service)
        return objectives

    def _interval(self, interval: SeriesInterval) -> None:
        if interval.rollup:
            return
        if interval.aggregated:
            interval_events(interval, self.objectives_of, self._add)
        if self.baselines is not None:
            self._learn(interval, self.baselines)

    def _learn(self, interval: SeriesInterval, baselines: RouteBaselines) -> None:
        """Feed entry routes of services without declared objectives to their baselines."""
        for key, red in interval.values.items():
            if key.span_kind not in REQUEST_KINDS or key.service in self.explicit_services:
                continue
            route = (key.service, key.operation)
            learned = baselines.offer(route, red.duration_s, interval.start_ns, interval.end_ns)
            if learned is not None:
                self._track_route(key.service, key.operation, learned)
                self.routes_state.mark_dirty()

    def _add(self, name: str, minute: int, good: float, total: float) -> None:
        self.states[name].add(minute, good, total)

    def consume_metrics(self, batch: MetricBatch) -> None:
        for point in batch.points:
            states = self.by_service.get(point.resource.service_name)
            if not states:
                continue
            wanted = [s.objective for s in states if _reads(s.objective, point)]
            if not wanted:
                continue
            delta = self.streams.delta(point)
            if delta is not None:
                for objective in wanted:
                    self._metric_events(objective, delta)

    def _metric_events(self, objective: Objective, point: MetricPoint) -> None:
        minute = point.time_ns // MINUTE_NS
        if objective.kind == SLIKind.LATENCY and point.type in HISTOGRAMS:
            assert objective.threshold_s is not None
            good, total = histogram_events(point, objective.threshold_s, unit_scale(point.unit))
            self._add(objective.name, minute, good, total)
            return
        if objective.kind == SLIKind.RATIO and point.value is not None:
            cell = self.ratio_pending.setdefault((objective.name, minute), [0.0, 0.0, 0.0])
            role = {objective.good_metric: 0, objective.bad_metric: 1, objective.total_metric: 2}
            cell[role[point.name]] += point.value

    # -- evaluation ---------------------------------------------------------
    def tick(self, now_ns: int) -> list[Finding]:
        self._settle_ratios(now_ns // MINUTE_NS)
        interval_ns = self.config.evaluation_interval * 1e9
        if self.evaluated_ns and now_ns - self.evaluated_ns < interval_ns:
            return []
        self.evaluated_ns = now_ns
        found: list[Finding] = []
        for state in self.states.values():
            found += state.evaluate(now_ns, self.id)
        return found

    def _settle_ratios(self, now_minute: int) -> None:
        """Ratio counters of a minute are paired once the minute has passed."""
        for key in [k for k in self.ratio_pending if k[1] < now_minute]:
            good, bad, total = self.ratio_pending.pop(key)
            objective = self.states[key[0]].objective
            good = good if objective.good_metric else max(0.0, total - bad)
            self._add(key[0], key[1], min(good, total), total)

    def finish(self, now_ns: int) -> list[Finding]:
        self._settle_ratios(now_ns // MINUTE_NS + 1)
        self.evaluated_ns = 0
        return self.tick(now_ns)

    # -- state --------------------------------------------------------------
    def flush(self, now_ns: int) -> None:
        """Save objectives that changed (at most once per ``save_interval`` of event time)."""
        documents = self.objective_state
        if not documents.due(now_ns):
            return
        self.default_state.flush(now_ns, lambda: DefaultServices(sorted(self.default_services)))
        if self.baselines is not None:
            self.routes_state.flush(now_ns, self.baselines.saved)
        documents.flush(now_ns, self._saved, changed_keys(self.states))

    def _saved(self, name: str) -> SavedObjective | None:
        state = self.states.get(name)
        return None if state is None else state.saved()

    def shutdown(self) -> None:
        """State is saved by flush(), which the pipeline calls before shutdown."""
        self._unsubscribe()
        self._unsubscribe = lambda: None

    def snapshot(self) -> dict[str, Any]:
        return {
            "objectives": [s.view() for s in self.states.values()],
            "untracked_services": self.untracked_services,
            "untracked_routes": 0 if self.baselines is None else self.baselines.dropped,
            "metric_streams_dropped": self.streams.dropped,
            "state_discarded": self.objective_state.discarded,
        }

    def gauges(self) -> list[tuple[str, float, dict[str, str]]]:
        """SLI, target, budget remaining and burn rates per objective, for exporters."""
        return [row for state in self.states.values() for row in objective_gauges(state)]


def _reads(objective: Objective, point: MetricPoint) -> bool:
    if objective.kind == SLIKind.LATENCY:
        return objective.latency_metric == point.name and _attrs_match(objective, point)
    if objective.kind == SLIKind.RATIO:
        names = (objective.good_metric, objective.bad_metric, objective.total_metric)
        return point.name in names and _attrs_match(objective, point)
    return False


def _attrs_match(objective: Objective, point: MetricPoint) -> bool:
    attrs = point.attributes
    if objective.operation and objective.operation not in (
        attrs.get("http.route"),
        attrs.get("span.name"),
    ):
        return False
    return all(attrs.get(k) == v for k, v in objective.metric_attributes)


FACTORY: Factory[SLOConfig, Processor] = Factory(
    type="slo",
    config_model=SLOConfig,
    create=SLOProcessor,
    description="Latency, availability and throughput SLOs with error budgets and "
    "multiwindow burn-rate alerts (YAML or OpenSLO v1).",
)
