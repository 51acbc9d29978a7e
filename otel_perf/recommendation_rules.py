"""The per-kind rules that turn one finding into one recommendation (an ``Item``).

A rule reads the finding's attributes and, for counts and SLO figures, the inputs'
periods and processor snapshots; it never ranks, filters or reads the clock. Ranking,
grouping and the points scale live in ``otel_perf.recommendations``, which imports this
module (never the other way round).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from otel_perf import recommendation_slo as slo
from otel_perf.findings import Finding, Kind, Severity
from otel_perf.units import format_quantity

MONTH_S = 30 * 86400.0
#: a version comparison's and a benchmark verdict's figures
_SHIFT_FIGURES: tuple[str, ...] = ("hl_shift", "baseline_p95", "current_p95", "p_value")

Snapshots = Mapping[str, Mapping[str, Mapping[str, Any]]]
"""Processor snapshots by processor type, then component id (``Pipeline.snapshot``)."""


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


def _saveable(f: Finding, inputs: Context, action: str, *names: str) -> Item:
    """A call pattern (N+1, sequential calls) whose fix saves time in each trace it is in."""
    a = f.attributes
    saved = _per_min(a["saveable_ms_per_trace"] * a["occurrences"], f, inputs)
    return Item(
        action=action,
        category="performance",
        finding=f,
        impact_kind="latency_ms_per_min",
        impact_value=saved,
        impact_text=f"~{a['saveable_ms_per_trace']:.0f} ms per request, ~{saved:.0f} ms per minute",
        figures=_figures(f, "pattern", "occurrences", *names, "saveable_ms_per_trace"),
        group=_call_group(f.service, a.get("parent_operation"), a.get("operation")),
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
    spent = _per_min(a["count"] * a["p50_ms"], f, inputs)
    advice = f": {a['advice']}" if a.get("advice") else ""
    return Item(
        action=f"Speed up the slow {a.get('db_system') or 'db'} query in {f.service} "
        f"(p95 {a['p95_ms']:.0f} ms){advice} — {a['fingerprint'][:120]}",
        category="performance",
        finding=f,
        impact_kind="latency_ms_per_min",
        impact_value=spent,
        impact_text=f"up to ~{spent:.0f} ms per minute spent in this query",
        figures=_figures(f, "count", "p50_ms", "p95_ms", "threshold_ms", "fingerprint_id"),
        group=_slow_query_group(f),
    )


def _hotspot(f: Finding, inputs: Context) -> Item:
    a = f.attributes
    spent = _per_min(a["critical_path_ms_per_trace"] * a["traces"], f, inputs)
    return Item(
        action=f"Optimise {f.service} {a['operation']}: {a['share']:.0%} of the critical path "
        f"of {a['entry_service']} {a['entry_operation']}",
        category="performance",
        finding=f,
        impact_kind="critical_path_ms_per_min",
        impact_value=spent,
        impact_text=f"{a['critical_path_ms_per_trace']:.0f} ms of each request's critical "
        f"path, ~{spent:.0f} ms per minute",
        figures=_figures(f, "share", "entry_p95_ms", "critical_path_ms_per_trace", "traces"),
        group=_call_group(a["entry_service"], a["entry_operation"], a["operation"]),
        notes=("critical-path time says where time goes, not what a fix saves: it weighs a tenth",),
    )


def _recommendation(f: Finding, inputs: Context) -> Item | None:
    a = f.attributes
    if "pattern" in a and "parent_operation" in a:
        return _parallel(f, inputs)
    if a.get("recommendation") in ("ttl_too_short", "cacheable_query"):
        return _cache_time(f)
    if a.get("recommendation") == "ttl_too_long":
        return _cache_memory(f)
    if a.get("status") in ("over", "under") and "resource" in a:
        return _rightsize(f, inputs)
    if a.get("recommendation") == "check_instrumentation":
        return _instrumentation(f)
    return None


def _instrumentation(f: Finding) -> Item:
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


def _cache_time(f: Finding) -> Item:
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


def _cache_memory(f: Finding) -> Item:
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
    names = _SHIFT_FIGURES
    if "new_version" in a:
        relative = float(a.get("relative_shift") or 0.0)
        action = (
            f"Roll back or investigate {f.service} version {a['new_version']}: "
            f"{a['operation']} regressed {relative:+.0%} against {a['old_version']}"
        )
        traffic = _route_traffic(inputs.snapshots, f.service, str(a["operation"]))
        if traffic is not None:
            before = a.get("baseline_p50")  # the route's p50 before the release, if known
            if isinstance(before, int | float) and before > 0:
                traffic = replace(traffic, p50_ms=float(before), p50_source="old version")
            return _release_cost(f, action, relative, traffic)
    elif "before_ms" in a:
        before, after = float(a["before_ms"]), float(a["after_ms"])
        relative = after / before - 1 if before else 1.0
        action = (
            f"Investigate {f.service} {a['operation']}: p95 rose from {before:.3g} ms to "
            f"{after:.3g} ms"
        )
        names = ("before_ms", "after_ms", "time_s")
    else:
        relative = float(a.get("relative_shift") or 0.0)
        action = f"Investigate the regression of {a.get('test', f.subject)} against its baseline"
    return Item(
        action=action,
        category="performance",
        finding=f,
        impact_kind="relative_latency",
        impact_value=relative,
        impact_text=f"{relative:+.0%} latency",
        figures=_figures(f, "old_version", "new_version", *names),
        notes=(
            "the route's traffic is unknown (no span metrics of it): ranked by the relative change",
        )
        if "new_version" in a
        else (),
    )


@dataclass(frozen=True)
class RouteTraffic:
    """An entry operation's requests per second and median latency, from span metrics."""

    rate_per_s: float
    p50_ms: float
    window_s: float
    p50_source: str = "span metrics"


#: span kinds of entry operations as span metrics label them (SERVER, CONSUMER)
_ENTRY_KINDS = frozenset({2, 5, "SERVER", "CONSUMER", "SPAN_KIND_SERVER", "SPAN_KIND_CONSUMER"})


def _route_traffic(snapshots: Snapshots, service: str, operation: str) -> RouteTraffic | None:
    """The route's traffic in the span metrics' API window (all its series summed; the
    median of its busiest), or None when no span-metrics processor saw it."""
    rate, p50, busiest, window = 0.0, None, -1, 0.0
    for snap in snapshots.get("spanmetrics", {}).values():
        for row in snap.get("red", []):
            if (row.get("service"), row.get("operation")) != (service, operation):
                continue
            if row.get("span_kind") not in _ENTRY_KINDS:
                continue
            rate += float(row.get("rate_per_s") or 0.0)
            window = float(snap.get("window_s") or 0.0)
            if int(row.get("calls") or 0) > busiest and row.get("p50_ms") is not None:
                busiest, p50 = int(row["calls"]), float(row["p50_ms"])
    if p50 is None or rate <= 0:
        return None
    return RouteTraffic(rate, p50, window)


def _release_cost(f: Finding, action: str, relative: float, traffic: RouteTraffic) -> Item:
    """A release regression in users' time: relative change × route p50 × requests per
    minute, the time per minute the new version adds on that route."""
    per_min = traffic.rate_per_s * 60.0
    cost = relative * traffic.p50_ms * per_min
    return Item(
        action=action,
        category="performance",
        finding=f,
        impact_kind="latency_ms_per_min",
        impact_value=cost,
        impact_text=f"{relative:+.0%} latency, ~{cost:,.0f} ms per minute of users' time",
        figures={
            **_figures(f, "old_version", "new_version", *_SHIFT_FIGURES),
            "route_p50_ms": traffic.p50_ms,
            "requests_per_min": round(per_min, 3),
        },
        notes=(
            f"time per minute = relative change {relative:+.3g} × route p50 "
            f"{traffic.p50_ms:.4g} ms ({traffic.p50_source}) × {per_min:.4g} requests per "
            f"minute (span metrics, last {traffic.window_s:g} s)",
        ),
    )


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
