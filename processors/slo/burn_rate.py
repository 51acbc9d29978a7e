"""Multiwindow, multi-burn-rate alerts (The Site Reliability Workbook, ch. 5).

A rule fires when the burn rate ``(bad / total) / (1 − target)`` is at least ``burn_rate`` over
*both* its long window (enough budget spent to matter) and its short window (still happening).
Burning at rate ``b`` for ``w`` seconds spends ``b · w / W`` of a ``W``-second SLO window's budget:
the defaults page at 2 % in 1 h (14.4×) or 5 % in 6 h (6×) and open a ticket at 10 % in 3 d (1×).

With a 99.9 % objective and every request failing (burn rate 1000), the 1 h / 14.4× rule needs
``14.4 × 0.001 × 3600 s = 51.84 s`` of outage in its long window; its 5 min short window needs
``14.4 × 0.001 × 300 s = 4.32 s``. With per-minute counts it fires at the first minute boundary
at which the outage has lasted at least 52 s. Once the errors stop, the short window empties
first, so the alert resolves within a short window instead of lingering for the long one.

A rule fires only over windows that were watched: ``observed_s`` (see ``observation.py``) must
be at least its short window. On a fresh start the 1 h / 5 min page can fire 5 minutes after
the first evaluation at the earliest, never seconds after the first request.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from otel_perf.processors.slo.budget import burn_rate
from otel_perf.processors.slo.objective import AlertSeverity, BurnRateRule

REFERENCE_WINDOW_S = 30 * 86400.0  # the SLO window the Workbook's rules are written for
MINUTE_S = 60.0

#: window length in seconds → (good, total) events in the window ending now
SumsForWindow = Callable[[float], tuple[int, int]]


def scaled_rules(rules: Iterable[BurnRateRule], slo_window_s: float) -> tuple[BurnRateRule, ...]:
    """The rules with both windows scaled by ``slo_window_s / 30 d``; burn rates unchanged.

    A rule spends ``burn_rate · long_window_s / slo_window_s`` of the budget before it fires;
    scaling the windows with the SLO window keeps that fraction (2 %, 5 %, 10 %) the same. Windows
    are rounded to whole minutes (the counts' resolution), at least 1 min, and a long window is
    kept at least a minute longer than its short one.

    The same rules and window give the same (shared, frozen) tuple: thousands of suggested
    objectives hold one copy, not one each.
    """
    return _scaled(tuple(rules), slo_window_s)


@functools.lru_cache(maxsize=64)
def _scaled(rules: tuple[BurnRateRule, ...], slo_window_s: float) -> tuple[BurnRateRule, ...]:
    factor = slo_window_s / REFERENCE_WINDOW_S
    scaled = []
    for rule in rules:
        short_s = _whole_minutes(rule.short_window_s * factor)
        long_s = max(_whole_minutes(rule.long_window_s * factor), short_s + MINUTE_S)
        scaled.append(rule.model_copy(update={"long_window_s": long_s, "short_window_s": short_s}))
    return tuple(scaled)


def _whole_minutes(seconds: float) -> float:
    return max(MINUTE_S, float(int(seconds / MINUTE_S + 0.5)) * MINUTE_S)


@dataclass(frozen=True)
class WindowBurn:
    """One window of one rule: its events and burn rate."""

    window_s: float
    good: int
    total: int
    burn_rate: float

    def burning(self, threshold: float, min_events: int) -> bool:
        """``burn_rate ≥ threshold`` with at least ``min_events`` events to go on."""
        return self.total >= min_events and self.burn_rate >= threshold


@dataclass(frozen=True)
class RuleState:
    """A rule evaluated: firing iff both windows burn at ``rule.burn_rate`` or more."""

    rule: BurnRateRule
    long: WindowBurn
    short: WindowBurn
    firing: bool
    observed: bool = True  # the short window's length was watched without a gap


def evaluate(
    rules: Iterable[BurnRateRule],
    sums_for_window: SumsForWindow,
    target: float,
    min_events: int = 0,
    observed_s: float = math.inf,
) -> list[RuleState]:
    """Evaluate every rule over windows ending now.

    ``firing = long.burn_rate ≥ burn_rate ∧ short.burn_rate ≥ burn_rate ∧ long.total ≥
    min_events ∧ short.total ≥ min_events ∧ observed_s ≥ short_window_s``. Each distinct
    window is summed once.
    """
    cache: dict[float, WindowBurn] = {}

    def window(window_s: float) -> WindowBurn:
        if window_s not in cache:
            good, total = sums_for_window(window_s)
            cache[window_s] = WindowBurn(window_s, good, total, burn_rate(good, total, target))
        return cache[window_s]

    states = []
    for rule in rules:
        long, short = window(rule.long_window_s), window(rule.short_window_s)
        observed = observed_s >= rule.short_window_s
        burning = all(w.burning(rule.burn_rate, min_events) for w in (long, short))
        states.append(RuleState(rule, long, short, burning and observed, observed))
    return states


def firing_by_severity(states: Sequence[RuleState]) -> dict[AlertSeverity, bool]:
    """Per severity present in ``states``: does any of its rules fire?"""
    result: dict[AlertSeverity, bool] = {}
    for state in states:
        severity = AlertSeverity(state.rule.severity)
        result[severity] = result.get(severity, False) or state.firing
    return result


@dataclass(frozen=True)
class Transition:
    """An alert started firing or resolved at ``at_ns``; it had been firing since ``since_ns``."""

    objective: str
    severity: AlertSeverity
    status: Literal["firing", "resolved"]
    at_ns: int
    since_ns: int

    @property
    def duration_ns(self) -> int:
        return self.at_ns - self.since_ns


@dataclass(slots=True)
class AlertState:
    """The alert of one (objective, severity): fires when any rule of that severity fires,
    resolves when none does."""

    objective: str
    severity: AlertSeverity
    firing: bool = False
    since_ns: int | None = None  # when the current firing started

    def update(self, firing_now: bool, now_ns: int) -> Transition | None:
        """Feed the latest evaluation; returns the transition, if this one made one."""
        if firing_now and not self.firing:
            self.firing, self.since_ns = True, now_ns
            return Transition(self.objective, self.severity, "firing", now_ns, now_ns)
        if not firing_now and self.firing:
            since = self.since_ns if self.since_ns is not None else now_ns
            self.firing, self.since_ns = False, None
            return Transition(self.objective, self.severity, "resolved", now_ns, since)
        return None
