"""The per-kind rules that turn one finding into one recommendation (an ``Item``).

A rule reads the finding's attributes and, for counts and SLO figures, the inputs'
periods and processor snapshots; it never ranks, filters or reads the clock. Ranking,
grouping and the points scale live in ``otel_perf.recommendations``, which imports this
module (never the other way round).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from otel_perf import recommendation_slo as slo
from otel_perf.findings import Finding, Kind, Severity
from otel_perf.recommendation_traffic import (
    STATEMENT_PREFIX,
    RouteTraffic,
    route_traffic,
    statement_traffic,
)
from otel_perf.recommendation_traffic import Snapshots as Snapshots
from otel_perf.units import format_quantity

MONTH_S = 30 * 86400.0
#: a version comparison's and a benchmark verdict's figures
_SHIFT_FIGURES: tuple[str, ...] = ("hl_shift", "baseline_p95", "current_p95", "p_value")


class Context(Protocol):
    """What a rule reads besides the finding (``recommendations.Inputs`` is one)."""

    @property
    def snapshots(self) -> Snapshots: ...

    def period_s(self, source: str) -> float:
        """The period, in seconds, that counts in a finding from ``source`` cover."""
        ...


@dataclass(frozen=True)
class Item:
    """One recommendation before ranking."""

    action: str
    category: str
    finding: Finding
    impact_kind: str
    impact_value: float
    impact_text: str
    figures: dict[str, Any] = field(default_factory=dict)
    severity: Severity | None = None  # defaults to the finding's
    group: str = ""  # items of one group appear once (an objective's alerts); default: key
    notes: tuple[str, ...] = ()  # why it ranks where it does, beyond its impact

    @property
    def group_key(self) -> str:
        return self.group or self.finding.key

    @property
    def rank_severity(self) -> Severity:
        return self.severity or self.finding.severity


def _per_min(count: float, f: Finding, inputs: Context) -> float:
    return count * 60.0 / inputs.period_s(f.source)


def _figures(f: Finding, *names: str) -> dict[str, Any]:
    return {n: f.attributes[n] for n in names if n in f.attributes}


def _call_group(service: str, entry_operation: Any, operation: Any) -> str:
    """One group per call of a route: an N+1 and the bottleneck its calls make on the same
    route are one problem, shown once (the higher-ranked item)."""
    return f"call\x1f{service}\x1f{entry_operation}\x1f{operation}" if operation else ""


def _slow_query_group(f: Finding) -> str:
    """The group of the statement on the route that runs it most: a slow query and the
    bottleneck it makes there are one problem."""
    routes = f.attributes.get("routes")
    if not isinstance(routes, list) or not routes or not isinstance(routes[0], dict):
        return ""
    top = max(routes, key=lambda r: r.get("share", 0) if isinstance(r, dict) else 0)
    return _call_group(
        top.get("service", f.service), top.get("route"), f.attributes.get("operation")
    )


@dataclass(frozen=True)
class Cost:
    """What a finding costs users: ms per minute and per request, and its reason."""

    ms_per_min: float
    ms_per_request: float
    figures: dict[str, Any]
    note: str  # how the rate was taken ("" for a last window's)

    @property
    def notes(self) -> tuple[str, ...]:
        return (self.note,) if self.note else ()


#: the smoothed cost figures a bottlenecks finding carries (``bottlenecks/impact.py``)
_IMPACT = ("impact_ms_per_min", "impact_requests_per_min", "impact_ms_per_request")


def _cost(f: Finding, inputs: Context, ms_per_window: float, ms_per_request: float) -> Cost:
    """The finding's cost to users as a rate smoothed over evaluation windows: the running
    processor's current figure for the finding, else the one it was announced with, else
    (a finding stored by an older version) its last window's ``ms_per_window``."""
    view = inputs.snapshots.get("bottlenecks", {}).get(f.source, {}).get("impact", {})
    current = view.get(f.key) if isinstance(view, Mapping) else None
    figures = current if isinstance(current, Mapping) else f.attributes
    if all(isinstance(figures.get(n), int | float) for n in _IMPACT):
        rate = {n: float(figures[n]) for n in _IMPACT}
        return Cost(
            rate["impact_ms_per_min"],
            rate["impact_ms_per_request"],
            rate,
            f"ms per minute: a mean over evaluation windows weighted by age, "
            f"{rate['impact_requests_per_min']:.4g} requests per minute × "
            f"{rate['impact_ms_per_request']:.4g} ms each",
        )
    per_min = _per_min(ms_per_window, f, inputs)
    return Cost(per_min, ms_per_request, {}, "")


def _saveable(f: Finding, inputs: Context, action: str, *names: str) -> Item:
    """A call pattern (N+1, sequential calls) whose fix saves time in each trace it is in."""
    a = f.attributes
    saved = _cost(
        f, inputs, a["saveable_ms_per_trace"] * a["occurrences"], a["saveable_ms_per_trace"]
    )
    return Item(
        action=action,
        category="performance",
        finding=f,
        impact_kind="latency_ms_per_min",
        impact_value=saved.ms_per_min,
        impact_text=f"~{saved.ms_per_request:.0f} ms per request, "
        f"~{saved.ms_per_min:.0f} ms per minute",
        figures={
            **_figures(f, "pattern", "occurrences", *names, "saveable_ms_per_trace"),
            **saved.figures,
        },
        group=_call_group(f.service, a.get("parent_operation"), a.get("operation")),
        notes=saved.notes,
    )


def _n_plus_one(f: Finding, inputs: Context) -> Item:
    a = f.attributes
    action = (
        f"Batch the N+1 in {f.service} {a['parent_operation']}: "
        f"{a['max_calls']} calls of {a['fingerprint'][:120]}"
    )
    return _saveable(f, inputs, action, "max_calls", "mean_calls")


def _parallel(f: Finding, inputs: Context) -> Item:
    action = (
        f"Run the independent calls of {f.service} {f.attributes['parent_operation']} in parallel"
    )
    return _saveable(f, inputs, action)


def _slow_query(f: Finding, inputs: Context) -> Item:
    a = f.attributes
    spent = _cost(f, inputs, a["count"] * a["p50_ms"], a["p50_ms"])
    advice = f": {a['advice']}" if a.get("advice") else ""
    return Item(
        action=f"Speed up the slow {a.get('db_system') or 'db'} query in {f.service} "
        f"(p95 {a['p95_ms']:.0f} ms){advice} — {a['fingerprint'][:120]}",
        category="performance",
        finding=f,
        impact_kind="latency_ms_per_min",
        impact_value=spent.ms_per_min,
        impact_text=f"up to ~{spent.ms_per_min:.0f} ms per minute spent in this query "
        f"(~{spent.ms_per_request:.0f} ms per request)",
        figures={
            **_figures(f, "count", "p50_ms", "p95_ms", "threshold_ms", "fingerprint_id"),
            **spent.figures,
        },
        group=_slow_query_group(f),
        notes=spent.notes,
    )


def _hotspot(f: Finding, inputs: Context) -> Item:
    a = f.attributes
    per_request = a["critical_path_ms_per_trace"]
    spent = _cost(f, inputs, per_request * a["traces"], per_request)
    return Item(
        action=f"Optimise {f.service} {a['operation']}: {a['share']:.0%} of the critical path "
        f"of {a['entry_service']} {a['entry_operation']}",
        category="performance",
        finding=f,
        impact_kind="critical_path_ms_per_min",
        impact_value=spent.ms_per_min,
        impact_text=f"{spent.ms_per_request:.0f} ms of each request's critical "
        f"path, ~{spent.ms_per_min:.0f} ms per minute",
        figures={
            **_figures(f, "share", "entry_p95_ms", "critical_path_ms_per_trace", "traces"),
            **spent.figures,
        },
        group=_call_group(a["entry_service"], a["entry_operation"], a["operation"]),
        notes=(
            "critical-path time says where time goes, not what a fix saves: it weighs a tenth",
            *spent.notes,
        ),
    )


def _recommendation(f: Finding, inputs: Context) -> Item | None:
    """A ``recommendation`` finding: the first rule whose test its attributes pass."""
    a = f.attributes
    return next((rule(f, inputs) for test, rule in _RECOMMENDATIONS if test(a)), None)


def _instrumentation(f: Finding, inputs: Context) -> Item:
    """Server time with no exit span: the hint counts like a hotspot (a tenth of its ms)."""
    a = f.attributes
    p95 = float(a["server_p95_ms"])
    return Item(
        action=f"Check the instrumentation of {f.service}: its traces have server spans but no "
        "client, DB or messaging spans (database driver or HTTP client not instrumented?)",
        category="performance",
        finding=f,
        impact_kind="critical_path_ms_per_min",
        impact_value=p95,
        impact_text=f"server p95 {p95:.0f} ms, all of it self time in the traces",
        figures=_figures(f, "server_spans", "server_p95_ms", "no_exit_spans_s"),
    )


def _ttl_action(f: Finding, verb: str) -> str:
    """Raise or lower a cache prefix's TTL to the suggested one."""
    a = f.attributes
    return (
        f"{verb} the TTL of cache {a['cache.name']} prefix {a['cache.key_prefix'] or '(none)'}"
        f" in {f.service} to {a['suggested_ttl_s']:g} s"
    )


def _cache_time(f: Finding, inputs: Context) -> Item:
    a = f.attributes
    saved = float(a["estimated_saving_ms_per_min"])
    if a["recommendation"] == "cacheable_query":
        action = (
            f"Cache the {a.get('db.system', 'db')} query in {f.service} for "
            f"{a['suggested_ttl_s']:g} s (cache {a['cache.name']}): {a['fingerprint'][:120]}"
        )
        names = ("calls", "max_repeats", "expected_hit_ratio", "db_ms_per_min")
    else:
        action = _ttl_action(f, "Raise")
        names = ("current_ttl_s", "share", "events", "total")
    return Item(
        action=action,
        category="caching",
        finding=f,
        impact_kind="latency_ms_per_min",
        impact_value=saved,
        impact_text=f"~{saved:.0f} ms of loads saved per minute",
        figures=_figures(f, "suggested_ttl_s", *names),
    )


def _cache_memory(f: Finding, inputs: Context) -> Item:
    freed = float(f.attributes["estimated_saving_bytes_per_min"])
    return Item(
        action=_ttl_action(f, "Lower"),
        category="caching",
        finding=f,
        impact_kind="bytes_per_min",
        impact_value=freed,
        impact_text=f"~{freed:.0f} bytes per minute of entries never read",
        figures=_figures(f, "current_ttl_s", "suggested_ttl_s", "share", "events", "total"),
    )


def _rightsize(f: Finding, inputs: Context) -> Item:
    a = f.attributes
    figures = _figures(f, "kind", "request", "limit", "target", "lower", "upper", "history_days")
    unit = str(a.get("unit") or "")  # {cpu} or By; older findings carry none
    if a["status"] == "over":
        saving = float(a.get("saving") or 0.0) * MONTH_S / inputs.period_s(f.source)
        currency = a.get("currency", "")
        return Item(
            action=f"Right-size {a['resource']}: request {_amount(a['request'], unit)} → "
            f"{_amount(a['target'], unit)}",
            category="cost",
            finding=f,
            impact_kind="cost_per_month",
            impact_value=saving,
            impact_text=f"~{saving:.2f} {currency} per month".strip()
            if "saving" in a
            else "no prices configured (capacity.cost)",
            figures=figures,
        )
    request = a.get("request")
    shortfall = a["target"] / request - 1 if request else 1.0
    return Item(
        action=f"Raise the request of {a['resource']} to {_amount(a['target'], unit)} "
        f"(now {'none' if request is None else _amount(request, unit)})",
        category="capacity",
        finding=f,
        impact_kind="request_shortfall",
        impact_value=shortfall,
        impact_text=f"usage needs {shortfall:+.0%} over the request",
        figures=figures,
    )


def _amount(value: float, unit: str) -> str:
    """Cores or bytes with their unit (``500m cores``, ``512.0 MiB``); bare without one."""
    return format_quantity(float(value), unit) if unit else f"{float(value):.4g}"


def _crossing(f: Finding, inputs: Context) -> Item:
    a = f.attributes
    days = float(a["days_until"])
    return Item(
        action=f"Raise the HPA max or add capacity for {a['resource']}: forecast to reach "
        f"{a['threshold_label']} ({a['threshold']:g}) in {days:.1f} days",
        category="capacity",
        finding=f,
        impact_kind="days_to_threshold",
        impact_value=days,
        impact_text=f"threshold crossed on {str(a.get('at') or '?')[:10]}",
        figures=_figures(f, "metric", "threshold", "at", "earliest", "latest", "method"),
    )


def _regression(f: Finding, inputs: Context) -> Item:
    a = f.attributes
    if "new_version" in a:
        relative = float(a.get("relative_shift") or 0.0)
        action = (
            f"Roll back or investigate {f.service} version {a['new_version']}: "
            f"{a['operation']} regressed {relative:+.0%} against {a['old_version']}"
        )
        traffic = route_traffic(inputs.snapshots, f.service, str(a["operation"]))
        if traffic is not None:
            before = a.get("baseline_p50")  # the route's p50 before the release, if known
            if isinstance(before, int | float) and before > 0:
                traffic = replace(traffic, p50_ms=float(before), p50_source="old version")
            return _release_cost(f, action, relative, traffic)
    elif "before_ms" in a:
        return _change_point(f, inputs)
    else:
        relative = float(a.get("relative_shift") or 0.0)
        action = f"Investigate the regression of {a.get('test', f.subject)} against its baseline"
    figures = _figures(f, "old_version", "new_version", *_SHIFT_FIGURES)
    unknown = "new_version" in a
    return _relative(f, action, relative, figures, "the route's " if unknown else "")


def _relative(
    f: Finding, action: str, relative: float, figures: dict[str, Any], whose: str
) -> Item:
    """A regression ranked by its relative change: ``whose`` traffic is unknown ("" when
    traffic does not apply, as for a benchmark)."""
    note = f"{whose}traffic is unknown (no span metrics of it): ranked by the relative change"
    return Item(
        action=action,
        category="performance",
        finding=f,
        impact_kind="relative_latency",
        impact_value=relative,
        impact_text=f"{relative:+.0%} latency",
        figures=figures,
        notes=(note,) if whose else (),
    )


def _users_time(
    f: Finding, action: str, cost: float, text: str, figures: dict[str, Any], note: str
) -> Item:
    """A regression ranked by the users' time per minute it costs, with its formula."""
    return Item(
        action=action,
        category="performance",
        finding=f,
        impact_kind="latency_ms_per_min",
        impact_value=cost,
        impact_text=text,
        figures=figures,
        notes=(note,),
    )


_CHANGE_FIGURES = ("before_ms", "after_ms", "time_s")


def _change_point(f: Finding, inputs: Context) -> Item:
    """A change point in users' time: the p95 shift × calls per minute. On an entry
    operation that is requests' time; on a statement fingerprint, the extra database time
    per minute on the routes that run it. The calls are those *after* the change (the
    finding's ``calls_per_s_after``, from the intervals since it): the last minute of span
    metrics may still hold the old calling pattern, or miss the new one. Without either
    figure: the relative change."""
    a = f.attributes
    operation = str(a["operation"])
    before, after = float(a["before_ms"]), float(a["after_ms"])
    action = f"Investigate {f.service} {operation}: p95 rose from {before:.3g} ms to {after:.3g} ms"
    if a.get("kind") == "slope":  # a trend that turned: the levels barely moved at the change
        action = (
            f"Investigate {f.service} {operation}: p95 trend turned from "
            f"{a['slope_before_ms_per_min']:+.3g} to {a['slope_after_ms_per_min']:+.3g} ms/min"
        )
    rate_s, source = _rate_after(a), "the intervals after the change"
    statement = statement_traffic(inputs.snapshots, f.service, operation)
    traffic = statement or route_traffic(inputs.snapshots, f.service, operation)
    if rate_s is None and traffic is not None:
        rate_s, source = traffic.rate_per_s, f"span metrics, last {traffic.window_s:g} s"
    if rate_s is None:
        relative = after / before - 1 if before else 1.0
        return _relative(f, action, relative, _figures(f, *_CHANGE_FIGURES), "its ")
    shift, per_min = after - before, rate_s * 60.0
    cost = max(shift, 0.0) * per_min
    calls, whose = ("requests", "users' time")
    if statement is not None or operation.startswith(STATEMENT_PREFIX):
        calls, whose = "executions", "database time on the routes that run it"
    figures = {
        **_figures(f, *_CHANGE_FIGURES),
        "shift_ms": round(shift, 3),
        f"{calls}_per_min": round(per_min, 3),
    }
    note = (
        f"time per minute = p95 shift {shift:+.4g} ms × {per_min:.4g} {calls} per minute ({source})"
    )
    text = f"{shift:+.3g} ms at p95, ~{cost:,.0f} ms per minute of {whose}"
    return _users_time(f, action, cost, text, figures, note)


def _rate_after(a: dict[str, Any]) -> float | None:
    """Calls per second after the change point, when the finding carries it."""
    rate = a.get("calls_per_s_after")
    if isinstance(rate, int | float) and math.isfinite(rate) and rate > 0:
        return float(rate)
    return None


def _release_cost(f: Finding, action: str, relative: float, traffic: RouteTraffic) -> Item:
    """A release regression in users' time: relative change × route p50 × requests per
    minute, the time per minute the new version adds on that route."""
    per_min = traffic.rate_per_s * 60.0
    cost = relative * traffic.p50_ms * per_min
    figures = {
        **_figures(f, "old_version", "new_version", *_SHIFT_FIGURES),
        "route_p50_ms": traffic.p50_ms,
        "requests_per_min": round(per_min, 3),
    }
    note = (
        f"time per minute = relative change {relative:+.3g} × route p50 "
        f"{traffic.p50_ms:.4g} ms ({traffic.p50_source}) × {per_min:.4g} requests per "
        f"minute (span metrics, last {traffic.window_s:g} s)"
    )
    text = f"{relative:+.0%} latency, ~{cost:,.0f} ms per minute of users' time"
    return _users_time(f, action, cost, text, figures, note)


def _anomaly(f: Finding, inputs: Context) -> Item:
    a = f.attributes
    score = float(a.get("max_score", a.get("score", 0.0)))
    return Item(
        action=f"Investigate the anomaly in {a['series']}: {a['value']:.6g} outside the "
        f"expected {a['expected_low']:.6g}–{a['expected_high']:.6g} ({a['direction']})",
        category="reliability",
        finding=f,
        impact_kind="anomaly_score",
        impact_value=score,
        impact_text=f"anomaly score {score:.4f}",
        figures=_figures(f, "value", "expected_low", "expected_high", "start_ns", "points"),
    )


def _slo(f: Finding, inputs: Context) -> Item | None:
    """A burning or breached objective, with its budget figures from the SLO snapshot.

    The running processor's view decides: an objective it no longer tracks, or tracks
    as healthy, gives no item (the stored finding is stale), so recommendations agree
    with ``slo`` and health after a restart. A suggested (zero-config) objective's burn
    weighs a hundredth of a declared one's: it must not crowd out actions.
    """
    a = f.attributes
    snapshots = inputs.snapshots.get("slo", {})
    view = slo.objective(snapshots.get(f.source, {}), a["objective"])
    if view is None and f.source in snapshots:
        return None  # the processor runs and does not know the objective (any more)
    if view is not None and not slo.objective_bad(view):
        return None  # the stored finding is stale: the processor says all is well
    suggested = bool((view or a).get("suggested"))
    budget = (view or {}).get("budget") or {}
    remaining = budget.get("error_budget_remaining", a.get("error_budget_remaining"))
    burn = slo.burn_rate(view, a)
    window_s = slo.window_s(str((view or {}).get("window") or a.get("window") or ""))
    text = slo.exhaustion(remaining, burn, window_s)
    action = (
        f"Review the suggested objective {a['objective']} ({f.service}): {text}; "
        "declare an objective that fits to be paged"
        if suggested
        else f"Investigate {a['objective']} ({f.service}): {text}"
    )
    return Item(
        action=action,
        category="reliability",
        finding=f,
        impact_kind="suggested_budget_burn" if suggested else "budget_burn",
        impact_value=burn,
        impact_text=f"burning the error budget {burn:.3g}× ({text})",
        figures={
            "objective": a["objective"],
            "error_budget_remaining": remaining,
            "burn_rate": burn,
            "sli": budget.get("sli", a.get("sli")),
            "target": a.get("target"),
            "suggested": suggested,
        },
        group=f"{f.source}\x1fslo\x1f{a['objective']}",
        notes=("suggested objective: its burn weighs a hundredth of a declared one's",)
        if suggested
        else (),
    )


Rule = Callable[[Finding, Context], "Item | None"]
_RECOMMENDATIONS: tuple[tuple[Callable[[Mapping[str, Any]], bool], Rule], ...] = (
    (lambda a: "pattern" in a and "parent_operation" in a, _parallel),  # bottlenecks
    (lambda a: a.get("recommendation") in ("ttl_too_short", "cacheable_query"), _cache_time),
    (lambda a: a.get("recommendation") == "ttl_too_long", _cache_memory),
    (lambda a: a.get("status") in ("over", "under") and "resource" in a, _rightsize),
    (lambda a: a.get("recommendation") == "check_instrumentation", _instrumentation),
)
"""The rules of ``recommendation`` findings (several processors emit them), each with the
test of the finding's attributes that picks it; the first that passes applies."""
RULES: dict[Kind, Rule] = {
    Kind.N_PLUS_ONE: _n_plus_one,
    Kind.SLOW_QUERY: _slow_query,
    Kind.BOTTLENECK_IDENTIFIED: _hotspot,
    Kind.RECOMMENDATION: _recommendation,
    Kind.CAPACITY_FORECAST: _crossing,
    Kind.REGRESSION_DETECTED: _regression,
    Kind.ANOMALY_DETECTED: _anomaly,
    Kind.BURN_RATE_ALERT: _slo,
    Kind.SLO_VIOLATION: _slo,
}
"""The rule for each finding kind a person can act on (other kinds give no action)."""
