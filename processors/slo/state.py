"""One objective's running state: minute counts, alerts, last evaluation, and persistence."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Any

from otel_perf.findings import Finding, Kind, Severity, State
from otel_perf.processors.slo.budget import explain
from otel_perf.processors.slo.burn_rate import (
    AlertState,
    RuleState,
    Transition,
    evaluate,
    firing_by_severity,
    scaled_rules,
)
from otel_perf.processors.slo.history import budget_history
from otel_perf.processors.slo.objective import (
    AlertSeverity,
    BudgetingMethod,
    BurnRateRule,
    Objective,
)
from otel_perf.processors.slo.observation import Observation
from otel_perf.processors.slo.saved import SavedCounts, SavedObjective, SavedObservation
from otel_perf.processors.slo.windows import (
    RATIO_SCALE,
    MinuteCounts,
    nominal_window_s,
    timeslice_rule,
    window_range,
)

MINUTE_NS = 60_000_000_000
SUGGESTED_NOTE = "; suggested objective: warns, never pages"
#: evaluations further apart than this (event time) mean nobody watched in between
DEFAULT_MAX_GAP_NS = 120 * 1_000_000_000


@dataclass(slots=True)
class ObjectiveState:
    """Counts and alert state of one objective."""

    objective: Objective
    counts: MinuteCounts
    rules: tuple[BurnRateRule, ...]
    alerts: dict[AlertSeverity, AlertState] = field(default_factory=dict)
    breached: bool = False
    dirty: bool = False
    #: the last evaluation's inputs — each rule's long and short window good/total (one
    #: typed array; its rule states rebuilt from them when read), the SLO window's
    #: good/total, at_ns, observed_s — kept compact; :attr:`last` spells them out when
    #: read (10,000 objectives held ~2 KB of JSON-ready dicts each, rebuilt every tick;
    #: the rule states themselves ~600 B)
    evaluation: tuple[array[int], float, float, int, float] | None = None
    observation: Observation = field(default_factory=lambda: Observation(DEFAULT_MAX_GAP_NS))

    @classmethod
    def new(cls, objective: Objective, max_gap_ns: int = DEFAULT_MAX_GAP_NS) -> ObjectiveState:
        ratio = objective.budgeting == BudgetingMethod.RATIO_TIMESLICES
        counts = MinuteCounts.for_window(objective.window, timeslice_rule(objective), ratio)
        rules = scaled_rules(objective.rules, nominal_window_s(objective.window))
        alerts = {
            AlertSeverity(r.severity): AlertState(objective.name, AlertSeverity(r.severity))
            for r in rules
        }
        return cls(objective, counts, rules, alerts, observation=Observation(max_gap_ns))

    @property
    def last(self) -> dict[str, Any]:
        """The last evaluation with the arithmetic (budget, rules), JSON-ready; {} before one."""
        if self.evaluation is None:
            return {}
        sums, good, total, at_ns, observed_s = self.evaluation
        states = self._rule_states(sums, observed_s)
        return {
            "budget": explain(good, total, self.objective.target, self.objective.budgeting),
            "rules": [_rule(s) for s in states],
            "at_ns": at_ns,
            "observed_s": round(observed_s, 3),
        }

    def _rule_states(self, sums: array[int], observed_s: float) -> list[RuleState]:
        """The rule states an evaluation found, from each rule's window sums."""
        by_window = {}
        for i, rule in enumerate(self.rules):
            by_window[rule.long_window_s] = (sums[4 * i], sums[4 * i + 1])
            by_window[rule.short_window_s] = (sums[4 * i + 2], sums[4 * i + 3])
        o = self.objective
        return evaluate(self.rules, by_window.__getitem__, o.target, o.min_events, observed_s)

    @property
    def uses_timeslices(self) -> bool:
        return self.objective.budgeting != BudgetingMethod.OCCURRENCES

    def add(self, minute: int, good: float, total: float) -> None:
        if self.counts.add(minute, round(good), round(total)):
            self.observation.see((minute + 1) * MINUTE_NS)  # the end: never credits too much
            self.dirty = True

    @property
    def min_observed_s(self) -> float:
        """The shortest short window: the observation a breach or any alert needs first."""
        return min((r.short_window_s for r in self.rules), default=0.0)

    def evaluate(self, now_ns: int, source: str) -> list[Finding]:
        """Burn rates and the window's SLI at ``now_ns``; findings for every transition."""
        minute = now_ns // MINUTE_NS
        self.counts.advance(minute)
        self.observation.see(now_ns)
        observed_s = self.observation.observed_s(now_ns)
        target, counts = self.objective.target, self.counts
        states = evaluate(
            self.rules,
            lambda window_s: counts.trailing(window_s, minute + 1),
            target,
            self.objective.min_events,
            observed_s,
        )
        first, last = window_range(self.objective.window, minute)
        good, total = self._window(first, last)
        budget = explain(good, total, target, self.objective.budgeting)
        sums = array("q", [n for s in states for w in (s.long, s.short) for n in (w.good, w.total)])
        self.evaluation = (sums, good, total, now_ns, observed_s)
        found = self._transitions(states, now_ns, source)
        # judged like the alerts: on at least min_events, once the shortest window was
        # watched (until then the last verdict holds)
        breached = total >= max(1, self.objective.min_events) and float(str(budget["sli"])) < target
        if observed_s >= self.min_observed_s and breached != self.breached:
            self.breached = breached
            found.append(self._violation(budget, now_ns, source))
        if found:
            self.dirty = True
        return found

    def _transitions(self, states: list[RuleState], now_ns: int, source: str) -> list[Finding]:
        """A finding for each alert that fired or resolved at ``now_ns``."""
        # an alert whose rules' windows were not all watched yet holds its state: after a
        # restart a firing page neither resolves nor fires again on a few seconds of data
        observed = {AlertSeverity(s.rule.severity) for s in states if s.observed}
        return [
            self._alert(t, states, source)
            for severity, firing in firing_by_severity(states).items()
            if severity in observed
            and (t := self.alerts[severity].update(firing, now_ns)) is not None
        ]

    def _window(self, first: int, last: int) -> tuple[float, float]:
        """(good, total) over the SLO window: events, good minutes, or summed minute ratios."""
        if not self.uses_timeslices:
            return self.counts.sum(first, last)
        good, minutes = self.counts.timeslices(first, last)
        if self.counts.ratio:
            return good / RATIO_SCALE, minutes  # SLI = mean of the minutes' good/total
        return good, minutes

    def _alert(self, transition: Transition, states: list[RuleState], source: str) -> Finding:
        o = self.objective
        pages = transition.severity == AlertSeverity.PAGE and not o.suggested
        mine = [s for s in states if s.rule.severity == transition.severity]
        worst = max(mine, key=lambda s: s.long.burn_rate)
        firing = transition.status == "firing"
        return Finding(
            kind=Kind.BURN_RATE_ALERT,
            severity=_alert_severity(firing, pages),
            service=o.service,
            subject=f"{o.name} {transition.severity.value}",
            time_ns=transition.at_ns,
            summary=_alert_summary(o, transition, worst),
            attributes={
                "objective": o.name,
                "alert": transition.severity.value,
                "status": transition.status,
                "since_ns": transition.since_ns,
                "target": o.target,
                "suggested": o.suggested,
                "pages": pages,
                "burn_rates": [_rule(s) for s in mine],
            },
            source=source,
            state=State.OPEN if firing else State.RESOLVED,
        )

    def _violation(self, budget: dict[str, Any], now_ns: int, source: str) -> Finding:
        o = self.objective
        sli = budget["sli"]
        breached = self.breached
        critical = budget["exhausted"] and not o.suggested
        return Finding(
            kind=Kind.SLO_VIOLATION,
            severity=Severity.CRITICAL if critical else Severity.WARNING,
            service=o.service,
            subject=o.name,
            time_ns=now_ns,
            summary=(
                f"{o.name}: SLI {sli:.4%} below the {o.target:.4%} target over "
                f"{_window_name(o)}; error budget remaining {budget['error_budget_remaining']:.1%}"
                f"{SUGGESTED_NOTE if o.suggested else ''}"
                if breached
                else f"{o.name}: back within target ({sli:.4%} ≥ {o.target:.4%})"
            ),
            attributes={
                "objective": o.name,
                "kind": o.kind.value,
                "operation": o.operation or "",
                "sli": sli,
                "target": o.target,
                "window": _window_name(o),
                "error_budget_remaining": budget["error_budget_remaining"],
                "exhausted": budget["exhausted"],
                "suggested": o.suggested,
                "good": budget["good"],
                "total": budget["total"],
            },
            source=source,
            state=State.OPEN if breached else State.RESOLVED,
        )

    def view(self) -> dict[str, Any]:
        """The objective, its last evaluation with the arithmetic, and its alert state."""
        o = self.objective
        return {
            "name": o.name,
            "service": o.service,
            "operation": o.operation,
            "kind": o.kind.value,
            "target": o.target,
            "threshold_ms": None if o.threshold_s is None else round(o.threshold_s * 1000, 3),
            "window": _window_name(o),
            "description": o.description,
            "suggested": o.suggested,
            "breached": self.breached,
            "alerts": {
                s.value: {"firing": a.firing, "since_ns": a.since_ns}
                for s, a in self.alerts.items()
            },
            **self.last,
            "budget_history": self.budget_history(),
        }

    def budget_history(self) -> list[dict[str, Any]]:
        """Budget remaining over the window to date at up to 120 times (the burn-down)."""
        if self.evaluation is None:
            return []
        at_ns = self.evaluation[3]
        minute = int(at_ns) // MINUTE_NS
        first, _ = window_range(self.objective.window, minute)
        target = self.objective.target
        return budget_history(self.counts, first, minute, target, self.uses_timeslices)

    def saved(self) -> SavedObjective:
        """The saved document (``saved.py``)."""
        return SavedObjective(
            counts=SavedCounts.model_validate(self.counts.to_dict()),
            alerts=list(self.alerts.values()),
            breached=self.breached,
            observation=SavedObservation(
                since_ns=self.observation.since_ns, last_ns=self.observation.last_ns
            ),
        )

    def restore_saved(self, saved: SavedObjective) -> None:
        """Take a saved document back. Raises ValueError when its rings do not fit."""
        counts = saved.counts.model_dump()
        self.counts = MinuteCounts.from_dict(counts, timeslice_rule(self.objective))
        for alert in saved.alerts:
            if alert.severity in self.alerts:
                self.alerts[alert.severity] = alert
        self.breached = saved.breached
        if saved.observation is not None:
            self.observation.resume(saved.observation.since_ns, saved.observation.last_ns)


def _alert_summary(o: Objective, transition: Transition, worst: RuleState) -> str:
    if transition.status != "firing":
        return (
            f"{o.name}: burn-rate {transition.severity.value} resolved after "
            f"{transition.duration_ns / 1e9:.0f} s"
        )
    return (
        f"{o.name}: error budget burning {worst.long.burn_rate:g}× "
        f"over {_window(worst.long.window_s)} and {worst.short.burn_rate:g}× over "
        f"{_window(worst.short.window_s)} ({transition.severity.value}"
        f"{SUGGESTED_NOTE if o.suggested else ''})"
    )


def _alert_severity(firing: bool, pages: bool) -> Severity:
    """Critical for a firing page of a declared objective, warning for any other firing
    alert (a ticket, or a suggested objective's page), info once resolved."""
    if not firing:
        return Severity.INFO
    return Severity.CRITICAL if pages else Severity.WARNING


def _rule(state: RuleState) -> dict[str, Any]:
    return {
        "severity": state.rule.severity,
        "threshold": state.rule.burn_rate,
        "firing": state.firing,
        "observed": state.observed,
        "long": {
            "window": _window(state.long.window_s),
            "burn_rate": state.long.burn_rate,
            "good": state.long.good,
            "total": state.long.total,
        },
        "short": {
            "window": _window(state.short.window_s),
            "burn_rate": state.short.burn_rate,
            "good": state.short.good,
            "total": state.short.total,
        },
    }


def _window(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _window_name(o: Objective) -> str:
    if o.window.calendar:
        return f"calendar {o.window.calendar} ({o.window.timezone})"
    return f"rolling {_window(o.window.duration_s)}"
