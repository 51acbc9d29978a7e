"""One ranked list of actions drawn from every processor's findings and state.

Each open finding a person can act on becomes one recommendation (the same finding key
once, its newest version): fix an N+1, index a slow query, run independent calls in
parallel, cache a query or change a TTL, raise capacity before a forecast crossing,
right-size a container, roll back a version that regressed an endpoint, investigate a
burning SLO or an open anomaly. Improvements and single slow requests are not actions.

Ranking rule: severity first (critical, warning, info), then ``score``, the estimated
impact on one scale of points, then the finding key (for a stable order):

==========================  ===============================================  ============
impact kind                 value                                            points
==========================  ===============================================  ============
``latency_ms_per_min``      time saved per minute of traffic (ms)            value
``critical_path_ms_per_min`` time on the critical path per minute (ms)       value / 10
``budget_burn``             error budget burn rate (1 = spent at window end)  1000 × value
``relative_latency``        relative latency change (0.25 = 25 % slower)     1000 × value
``anomaly_score``           anomaly score, 0 to 1                            1000 × value
``days_to_threshold``       days until the forecast crosses a threshold      7000 / value
``cost_per_month``          money saved per 30 days (the configured currency) value
``request_shortfall``       recommended request / current request − 1        1000 × value
``bytes_per_min``           memory freed per minute (bytes)                  value / 1e6
==========================  ===============================================  ============

so 1 s saved per minute, a burn rate of 1, a 100 % slowdown, a capacity crossing in 7
days and 1,000 currency units a month weigh the same. A critical-path hotspot says where
time goes, not what a fix saves, so its time counts a tenth: the N+1 inside an endpoint
ranks above the endpoint's hotspot.

The functions here are pure: they read snapshots and findings and never the clock.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from otel_perf.findings import Finding, Kind, Severity, State

log = logging.getLogger("otel_perf.recommendations")

NS = 1_000_000_000
CATEGORIES = ("performance", "reliability", "capacity", "cost", "caching")
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
#: findings older than this (event time, before the newest finding) are no longer actions
MAX_AGE_NS = 24 * 3600 * NS
#: the period a finding's counts cover when its source's is unknown
DEFAULT_PERIOD_S = 60.0
MONTH_S = 30 * 86400.0
EPISODES = frozenset({Kind.BURN_RATE_ALERT, Kind.SLO_VIOLATION, Kind.ANOMALY_DETECTED})

Snapshots = Mapping[str, Mapping[str, Mapping[str, Any]]]
"""Processor snapshots by processor type, then component id (``Pipeline.snapshot``)."""

POINTS: dict[str, Callable[[float], float]] = {
    "latency_ms_per_min": lambda v: v,
    "critical_path_ms_per_min": lambda v: v / 10,
    "budget_burn": lambda v: 1000 * v,
    "relative_latency": lambda v: 1000 * v,
    "anomaly_score": lambda v: 1000 * v,
    "days_to_threshold": lambda v: 7000 / max(v, 1 / 24),
    "cost_per_month": lambda v: v,
    "request_shortfall": lambda v: 1000 * v,
    "bytes_per_min": lambda v: v / 1e6,
}


@dataclass(frozen=True)
class Inputs:
    """What recommendations are drawn from.

    Attributes:
        snapshots: processor snapshots by type and id.
        findings: recent stored findings, any order.
        periods_s: per source id, the period a finding's counts cover (the bottlenecks
            processor's ``evaluation_interval``, the capacity processor's
            ``forecast_window``), to turn counts into per-minute and per-month figures.
    """

    snapshots: Snapshots
    findings: Sequence[Finding]
    periods_s: Mapping[str, float] = field(default_factory=dict)

    def period_s(self, source: str) -> float:
        return self.periods_s.get(source, DEFAULT_PERIOD_S)


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

    @property
    def group_key(self) -> str:
        return self.group or self.finding.key

    @property
    def score(self) -> float:
        value = self.impact_value if math.isfinite(self.impact_value) else 0.0
        return round(POINTS[self.impact_kind](value), 3)

    @property
    def rank_severity(self) -> Severity:
        return self.severity or self.finding.severity

    def to_dict(self, rank: int) -> dict[str, Any]:
        f = self.finding
        return {
            "rank": rank,
            "action": self.action,
            "category": self.category,
            "severity": self.rank_severity.value,
            "service": f.service,
            "subject": f.subject,
            "score": self.score,
            "impact": {
                "kind": self.impact_kind,
                "value": round(self.impact_value, 6),
                "text": self.impact_text,
            },
            "evidence": {
                "trace_ids": list(f.evidence.get("trace_ids") or []),
                "figures": self.figures,
            },
            "finding": {
                "key": f.key,
                "kind": f.kind.value,
                "source": f.source,
                "time_ns": f.time_ns,
                "severity": f.severity.value,
                "summary": f.summary,
            },
        }


def check_query(service: str | None, category: str | None, limit: int) -> None:
    """Raise ValueError naming the bad parameter."""
    if category is not None and category not in CATEGORIES:
        known = ", ".join(CATEGORIES)
        raise ValueError(f'category: unknown category "{category}" (known: {known})')
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit: must be between 1 and {MAX_LIMIT}, got {limit}")
    if service is not None and not service:
        raise ValueError("service: must not be empty")


def recommend(
    inputs: Inputs,
    service: str | None = None,
    category: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[dict[str, Any]]:
    """The ranked recommendations (at most ``limit``), optionally of one service or category.

    Raises:
        ValueError: a bad ``category`` or ``limit``, with the parameter's name.
    """
    check_query(service, category, limit)
    items = [
        item
        for finding in current_findings(inputs.findings, inputs.snapshots)
        for item in _items(finding, inputs)
        if (not service or finding.service == service)
        and (not category or item.category == category)
    ]
    items.sort(key=lambda i: (-i.rank_severity.rank, -i.score, i.finding.key))
    seen: set[str] = set()
    ranked = []
    for item in items:
        if item.group_key not in seen:
            seen.add(item.group_key)
            ranked.append(item)
    return [item.to_dict(rank) for rank, item in enumerate(ranked[:limit], start=1)]


def latest_by_key(findings: Iterable[Finding]) -> list[Finding]:
    """The newest finding of each episode (``Finding.key``), newest first."""
    newest: dict[str, Finding] = {}
    for finding in findings:
        seen = newest.get(finding.key)
        if seen is None or finding.time_ns >= seen.time_ns:
            newest[finding.key] = finding
    return sorted(newest.values(), key=lambda f: (-f.time_ns, f.key))


def now_of(findings: Iterable[Finding], snapshots: Snapshots) -> int:
    """Event time "now": the newest finding's or SLO evaluation's time (0 if none)."""
    times = [f.time_ns for f in findings]
    for snap in snapshots.get("slo", {}).values():
        times += [int(o.get("at_ns") or 0) for o in snap.get("objectives", [])]
    return max(times, default=0)


def current_findings(findings: Sequence[Finding], snapshots: Snapshots) -> list[Finding]:
    """Stored findings plus the capacity and cache processors' current ones, newest per
    key, without resolved episodes, closed anomalies or anything older than MAX_AGE_NS."""
    held = [*findings, *_snapshot_findings(snapshots)]
    now = now_of(held, snapshots)
    open_series = _open_anomalies(snapshots)
    out = []
    for f in latest_by_key(held):
        if f.state == State.RESOLVED:
            continue
        if f.kind == Kind.ANOMALY_DETECTED and open_series is not None:
            if (f.source, f.subject) not in open_series:
                continue
        elif f.kind not in EPISODES and now - f.time_ns > MAX_AGE_NS:
            continue
        out.append(f)
    return out


def _snapshot_findings(snapshots: Snapshots) -> list[Finding]:
    out = []
    for kind, key in (("capacity", "current_findings"), ("cache", "recommendations")):
        for snap in snapshots.get(kind, {}).values():
            out += [Finding.model_validate(body) for body in snap.get(key, [])]
    return out


def _open_anomalies(snapshots: Snapshots) -> set[tuple[str, str]] | None:
    """(source, series) of open anomaly episodes; None without an anomaly processor."""
    snaps = snapshots.get("anomaly", {})
    if not snaps:
        return None
    return {(pid, e["series"]) for pid, s in snaps.items() for e in s.get("open_episodes", [])}


# -- one finding's recommendations ------------------------------------------------------


def _items(f: Finding, inputs: Inputs) -> list[Item]:
    rule = RULES.get(f.kind)
    if rule is None:
        return []
    try:
        item = rule(f, inputs)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        # a finding stored by another version, without the attributes read here
        log.warning("finding %s (%s) has no usable attributes; skipped", f.key, f.kind.value)
        return []
    return [] if item is None else [item]


def _per_min(count: float, f: Finding, inputs: Inputs) -> float:
    return count * 60.0 / inputs.period_s(f.source)


def _figures(f: Finding, *names: str) -> dict[str, Any]:
    return {n: f.attributes[n] for n in names if n in f.attributes}


def _n_plus_one(f: Finding, inputs: Inputs) -> Item:
    a = f.attributes
    saved = _per_min(a["saveable_ms_per_trace"] * a["occurrences"], f, inputs)
    return Item(
        action=f"Batch the N+1 in {f.service} {a['parent_operation']}: "
        f"{a['max_calls']} calls of {a['fingerprint'][:120]}",
        category="performance",
        finding=f,
        impact_kind="latency_ms_per_min",
        impact_value=saved,
        impact_text=f"~{a['saveable_ms_per_trace']:.0f} ms per request, ~{saved:.0f} ms per minute",
        figures=_figures(
            f, "pattern", "occurrences", "max_calls", "mean_calls", "saveable_ms_per_trace"
        ),
    )


def _slow_query(f: Finding, inputs: Inputs) -> Item:
    a = f.attributes
    spent = _per_min(a["count"] * a["p50_ms"], f, inputs)
    return Item(
        action=f"Speed up (index) the slow {a.get('db_system') or 'db'} query in {f.service}: "
        f"p95 {a['p95_ms']:.0f} ms — {a['fingerprint'][:120]}",
        category="performance",
        finding=f,
        impact_kind="latency_ms_per_min",
        impact_value=spent,
        impact_text=f"up to ~{spent:.0f} ms per minute spent in this query",
        figures=_figures(f, "count", "p50_ms", "p95_ms", "threshold_ms", "fingerprint_id"),
    )


def _hotspot(f: Finding, inputs: Inputs) -> Item:
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
    )


def _recommendation(f: Finding, inputs: Inputs) -> Item | None:
    a = f.attributes
    if "pattern" in a and "parent_operation" in a:
        return _parallel(f, inputs)
    if a.get("recommendation") in ("ttl_too_short", "cacheable_query"):
        return _cache_time(f)
    if a.get("recommendation") == "ttl_too_long":
        return _cache_memory(f)
    if a.get("status") in ("over", "under") and "resource" in a:
        return _rightsize(f, inputs)
    return None


def _parallel(f: Finding, inputs: Inputs) -> Item:
    a = f.attributes
    saved = _per_min(a["saveable_ms_per_trace"] * a["occurrences"], f, inputs)
    return Item(
        action=f"Run the independent calls of {f.service} {a['parent_operation']} in parallel",
        category="performance",
        finding=f,
        impact_kind="latency_ms_per_min",
        impact_value=saved,
        impact_text=f"~{a['saveable_ms_per_trace']:.0f} ms per request, ~{saved:.0f} ms per minute",
        figures=_figures(f, "pattern", "occurrences", "saveable_ms_per_trace"),
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
        action = (
            f"Raise the TTL of cache {a['cache.name']} prefix {a['cache.key_prefix'] or '(none)'}"
            f" in {f.service} to {a['suggested_ttl_s']:g} s"
        )
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
    a = f.attributes
    freed = float(a["estimated_saving_bytes_per_min"])
    return Item(
        action=f"Lower the TTL of cache {a['cache.name']} prefix "
        f"{a['cache.key_prefix'] or '(none)'} in {f.service} to {a['suggested_ttl_s']:g} s",
        category="caching",
        finding=f,
        impact_kind="bytes_per_min",
        impact_value=freed,
        impact_text=f"~{freed:.0f} bytes per minute of entries never read",
        figures=_figures(f, "current_ttl_s", "suggested_ttl_s", "share", "events", "total"),
    )


def _rightsize(f: Finding, inputs: Inputs) -> Item:
    a = f.attributes
    figures = _figures(f, "kind", "request", "limit", "target", "lower", "upper", "history_days")
    if a["status"] == "over":
        saving = float(a.get("saving") or 0.0) * MONTH_S / inputs.period_s(f.source)
        currency = a.get("currency", "")
        return Item(
            action=f"Right-size {a['resource']}: request {a['request']:g} → {a['target']:.4g}",
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
        action=f"Raise the request of {a['resource']} to {a['target']:.4g} "
        f"(now {'none' if request is None else f'{request:g}'})",
        category="capacity",
        finding=f,
        impact_kind="request_shortfall",
        impact_value=shortfall,
        impact_text=f"usage needs {shortfall:+.0%} over the request",
        figures=figures,
    )


def _crossing(f: Finding, inputs: Inputs) -> Item:
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


def _regression(f: Finding, inputs: Inputs) -> Item:
    a = f.attributes
    if "new_version" in a:
        relative = float(a.get("relative_shift") or 0.0)
        action = (
            f"Roll back or investigate {f.service} version {a['new_version']}: "
            f"{a['operation']} regressed {relative:+.0%} against {a['old_version']}"
        )
        names: tuple[str, ...] = ("hl_shift", "baseline_p95", "current_p95", "p_value")
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
        names = ("hl_shift", "baseline_p95", "current_p95", "p_value")
    return Item(
        action=action,
        category="performance",
        finding=f,
        impact_kind="relative_latency",
        impact_value=relative,
        impact_text=f"{relative:+.0%} latency",
        figures=_figures(f, "old_version", "new_version", *names),
    )


def _anomaly(f: Finding, inputs: Inputs) -> Item:
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


def _slo(f: Finding, inputs: Inputs) -> Item | None:
    """A burning or breached objective, with its budget figures from the SLO snapshot."""
    a = f.attributes
    view = _objective(inputs.snapshots, f.source, a["objective"])
    if view is not None and not _objective_bad(view):
        return None  # the stored finding is stale: the processor says all is well
    budget = (view or {}).get("budget") or {}
    remaining = budget.get("error_budget_remaining", a.get("error_budget_remaining"))
    burn = _burn_rate(view, a)
    window_s = _window_s(str((view or {}).get("window") or a.get("window") or ""))
    text = _exhaustion(remaining, burn, window_s)
    return Item(
        action=f"Investigate {a['objective']} ({f.service}): {text}",
        category="reliability",
        finding=f,
        impact_kind="budget_burn",
        impact_value=burn,
        impact_text=f"burning the error budget {burn:.3g}× ({text})",
        figures={
            "error_budget_remaining": remaining,
            "burn_rate": burn,
            "sli": budget.get("sli", a.get("sli")),
            "target": a.get("target"),
        },
        group=f"{f.source}\x1fslo\x1f{a['objective']}",
    )


def _objective(snapshots: Snapshots, source: str, name: str) -> Mapping[str, Any] | None:
    snap = snapshots.get("slo", {}).get(source, {})
    return next((o for o in snap.get("objectives", []) if o.get("name") == name), None)


def _objective_bad(view: Mapping[str, Any]) -> bool:
    return bool(view.get("breached")) or any(a["firing"] for a in view["alerts"].values())


def _burn_rate(view: Mapping[str, Any] | None, attributes: Mapping[str, Any]) -> float:
    rules = (view or {}).get("rules") or attributes.get("burn_rates") or []
    rates = [float(r["long"]["burn_rate"]) for r in rules if r.get("long")]
    budget = (view or {}).get("budget") or {}
    rates.append(float(budget.get("burn_rate") or 0.0))
    return max((r for r in rates if math.isfinite(r)), default=0.0)


def _window_s(name: str) -> float | None:
    """Seconds of a ``rolling 30d`` window name (None for calendar windows)."""
    if not name.startswith("rolling "):
        return None
    text = name.removeprefix("rolling ")
    units = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
    try:
        return float(text[:-1]) * units[text[-1]]
    except (KeyError, ValueError, IndexError):
        return None


def _exhaustion(remaining: float | None, burn: float, window_s: float | None) -> str:
    if remaining is None:
        return f"burn rate {burn:.3g}×"
    if remaining <= 0:
        return "error budget exhausted"
    if burn <= 0 or window_s is None:
        return f"{remaining:.0%} of the error budget left"
    hours = remaining * window_s / burn / 3600
    return f"budget exhausted in {hours:.1f} h at this rate ({remaining:.0%} left)"


Rule = Callable[[Finding, Inputs], "Item | None"]
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
