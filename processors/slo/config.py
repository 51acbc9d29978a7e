"""Settings of the ``slo`` processor, and their expansion into Objectives."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from otel_perf.component import ComponentConfig
from otel_perf.config.types import Duration
from otel_perf.processors.slo.baseline import suggested_threshold
from otel_perf.processors.slo.objective import (
    DEFAULT_RULES,
    AlertSeverity,
    BudgetingMethod,
    BurnRateRule,
    Objective,
    SLIKind,
    TimeWindow,
)

PERCENTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99, "p999": 0.999}


class LatencyTargets(ComponentConfig):
    """Thresholds per percentile: ``p95: 150ms`` means 95 % of requests within 150 ms."""

    p50: Duration | None = None
    p90: Duration | None = None
    p95: Duration | None = None
    p99: Duration | None = None
    p999: Duration | None = None


class ThroughputTarget(ComponentConfig):
    """A minute is good when its request rate lies within [min_rps, max_rps]."""

    min_rps: float | None = Field(default=None, ge=0)
    max_rps: float | None = Field(default=None, gt=0)
    target: float = Field(default=0.99, gt=0, lt=1)


class RatioTarget(ComponentConfig):
    """good/total (or bad/total) over received counters."""

    good: str | None = None
    bad: str | None = None
    total: str
    target: float = Field(gt=0, lt=1)


class AlertRule(ComponentConfig):
    long_window: Duration
    short_window: Duration
    burn_rate: float = Field(gt=0)
    severity: AlertSeverity

    def rule(self) -> BurnRateRule:
        return BurnRateRule(
            long_window_s=self.long_window,
            short_window_s=self.short_window,
            burn_rate=self.burn_rate,
            severity=self.severity,
        )


class WindowSettings(ComponentConfig):
    """``window: 30d`` for rolling, or ``calendar: month`` / ``week`` with a time zone."""

    window: Duration = 30 * 86400.0
    calendar: str | None = None
    timezone: str = "UTC"

    def time_window(self) -> TimeWindow:
        return TimeWindow(duration_s=self.window, calendar=self.calendar, timezone=self.timezone)


class ObjectiveSettings(WindowSettings):
    """One entry of ``objectives``: a service (and optionally an operation) and its targets."""

    name: str = Field(min_length=1)
    service: str = Field(min_length=1)
    operation: str | None = None
    description: str = ""
    availability: float | None = Field(default=None, gt=0, lt=1)
    latency: LatencyTargets | None = None
    metric: str | None = None  # a received histogram to read latency from, instead of spans
    throughput: ThroughputTarget | None = None
    ratio: RatioTarget | None = None
    budgeting: BudgetingMethod = BudgetingMethod.OCCURRENCES
    timeslice_target: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _something(self) -> ObjectiveSettings:
        if not (self.availability or self.latency or self.throughput or self.ratio):
            raise ValueError("give availability, latency, throughput or ratio")
        return self


class RouteDefaults(ComponentConfig):
    """``defaults.routes``: suggested latency objectives per entry route, each starting from
    the route's own baseline when the default thresholds do not fit it (``baseline.py``).

    Attributes:
        enabled: per-route latency suggestions instead of per-service ones (needs span
            metrics: the ``spanmetrics`` processor, or the trace tier's aggregates).
        learn: event time a route is watched before its thresholds are fixed.
        min_requests: requests a route's baseline needs.
        headroom: a threshold taken from the baseline is its percentile × this (rounded
            up to 1, 2, 2.5 or 5 × 10^k ms).
        max_routes: routes learned at most (the rest are counted, without suggestions).
    """

    enabled: bool = False
    learn: Duration = 1800.0
    min_requests: int = Field(default=100, ge=1)
    headroom: float = Field(default=1.5, ge=1)
    max_routes: int = Field(default=500, gt=0)


class DefaultObjectives(ComponentConfig):
    """What every service seen gets when no objective names it (zero-config SLOs).

    These objectives are *suggested*: tracked, shown and exported like any other, but their
    alerts and breaches are warnings at most — they never page and never make health
    critical. Declare an objective (``objectives`` or ``openslo``) for a service to page.
    """

    enabled: bool = True
    availability: float = Field(default=0.999, gt=0, lt=1)
    latency: LatencyTargets = LatencyTargets(p50=0.05, p95=0.15, p99=0.2)
    routes: RouteDefaults = RouteDefaults()


class SLOConfig(WindowSettings):
    """``processors.slo``.

    Attributes:
        objectives: explicit objectives.
        openslo: OpenSLO v1 files to load objectives from.
        defaults: objectives applied to every service seen without explicit ones.
        alerting: multiwindow burn-rate rules (default: the SRE Workbook's, scaled
            to the SLO window).
        min_events: a burn-rate window with fewer events cannot alert.
        evaluation_interval: how often (event time) budgets and burn rates are evaluated.
        save_interval: how often (event time) changed objectives are written to the store;
            a kill -9 loses at most this much (plus the store's flush interval).
        max_services: services that get default objectives (the rest are counted).
        max_streams: received metric streams tracked for cumulative-to-delta.
        observation_gap: evaluations (and events) further apart than this, in event time,
            mean otel-perf was not watching in between: the burn-rate windows start to be
            observed again, and no rule fires before its short window is observed.
    """

    objectives: list[ObjectiveSettings] = []
    openslo: list[str] = []
    defaults: DefaultObjectives = DefaultObjectives()
    alerting: list[AlertRule] | None = None
    min_events: int = Field(default=10, ge=0)
    evaluation_interval: Duration = 10.0
    save_interval: Duration = 10.0
    max_services: int = Field(default=1000, gt=0)
    max_streams: int = Field(default=10_000, gt=0)
    observation_gap: Duration = 120.0

    @model_validator(mode="after")
    def _unique_names(self) -> SLOConfig:
        if self.observation_gap <= self.evaluation_interval:
            raise ValueError(
                f"observation_gap ({self.observation_gap:g} s) must be longer than "
                f"evaluation_interval ({self.evaluation_interval:g} s)"
            )
        names = [o.name for o in self.objectives]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"objective names must be unique; repeated: {', '.join(duplicates)}")
        for path in self.openslo:
            if not Path(path).is_file():
                raise ValueError(f"openslo file not found: {path}")
        return self

    def rules(self) -> tuple[BurnRateRule, ...]:
        return DEFAULT_RULES if self.alerting is None else tuple(a.rule() for a in self.alerting)


def expand(
    settings: ObjectiveSettings, rules: tuple[BurnRateRule, ...], min_events: int
) -> list[Objective]:
    """One ObjectiveSettings into its Objectives (one per latency percentile)."""
    common: dict[str, Any] = {
        "service": settings.service,
        "operation": settings.operation,
        "window": settings.time_window(),
        "rules": rules,
        "min_events": min_events,
        "description": settings.description,
        "budgeting": settings.budgeting,
        "timeslice_target": settings.timeslice_target,
    }
    out: list[Objective] = []
    if settings.availability is not None:
        out.append(
            Objective(
                name=f"{settings.name}-availability" if _many(settings) else settings.name,
                kind=SLIKind.AVAILABILITY,
                target=settings.availability,
                **common,
            )
        )
    for label, threshold in _latencies(settings.latency):
        name = f"{settings.name}-latency-{label}"
        out.append(
            Objective(
                name=name,
                kind=SLIKind.LATENCY,
                target=PERCENTILES[label],
                threshold_s=threshold,
                latency_metric=settings.metric,
                **common,
            )
        )
    if settings.throughput is not None:
        t = settings.throughput
        out.append(
            Objective(
                name=f"{settings.name}-throughput",
                kind=SLIKind.THROUGHPUT,
                target=t.target,
                min_rps=t.min_rps,
                max_rps=t.max_rps,
                **{**common, "budgeting": BudgetingMethod.TIMESLICES},
            )
        )
    if settings.ratio is not None:
        r = settings.ratio
        out.append(
            Objective(
                name=f"{settings.name}-ratio" if _many(settings) else settings.name,
                kind=SLIKind.RATIO,
                target=r.target,
                good_metric=r.good,
                bad_metric=r.bad,
                total_metric=r.total,
                **common,
            )
        )
    return out


def defaults_for(service: str, config: SLOConfig) -> list[Objective]:
    """The suggested (zero-config) objectives of a service seen without explicit ones."""
    per_route = config.defaults.routes.enabled  # then latency is suggested per route
    settings = ObjectiveSettings(
        name=service,
        service=service,
        availability=config.defaults.availability,
        latency=None if per_route else config.defaults.latency,
        window=config.window,
        calendar=config.calendar,
        timezone=config.timezone,
    )
    objectives = expand(settings, config.rules(), config.min_events)
    return [o.model_copy(update={"suggested": True}) for o in objectives]


def route_defaults(
    service: str, route: str, baseline_s: dict[str, float], config: SLOConfig
) -> list[Objective]:
    """The suggested latency objectives of one route, from its baseline percentiles."""
    defaults, headroom = config.defaults.latency, config.defaults.routes.headroom
    thresholds, notes = {}, []
    for label, default_s in _latencies(defaults):
        observed = baseline_s.get(label)
        if observed is None or math.isnan(observed):
            continue
        thresholds[label] = suggested_threshold(default_s, observed, headroom)
        kept = thresholds[label] == default_s
        notes.append(
            f"{label} {observed * 1000:.4g} ms: "
            + ("default kept" if kept else f"{thresholds[label] * 1000:g} ms from the baseline")
        )
    if not thresholds:
        return []
    settings = ObjectiveSettings(
        name=f"{service} {route}",
        service=service,
        operation=route,
        latency=LatencyTargets(**thresholds),
        description="suggested from the route's baseline: " + "; ".join(notes),
        window=config.window,
        calendar=config.calendar,
        timezone=config.timezone,
    )
    objectives = expand(settings, config.rules(), config.min_events)
    return [o.model_copy(update={"suggested": True}) for o in objectives]


def _many(settings: ObjectiveSettings) -> bool:
    given = [settings.availability, settings.latency, settings.throughput, settings.ratio]
    return sum(g is not None for g in given) > 1


def _latencies(latency: LatencyTargets | None) -> list[tuple[str, float]]:
    if latency is None:
        return []
    return [(label, value) for label in PERCENTILES if (value := getattr(latency, label))]
