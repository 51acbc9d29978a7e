"""The bottlenecks processor's recommendation rules (contributed through its surface):
batch an N+1, run independent calls in parallel, speed up a slow query, optimise a
critical-path hotspot — each ranked by the time it costs users per minute."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from otel_perf.findings import Finding, Kind
from otel_perf.recommend.rules import Context, Item, Rule, figures_of, first_rule, per_min


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
    held = current if isinstance(current, Mapping) else f.attributes
    if all(isinstance(held.get(n), int | float) for n in _IMPACT):
        rate = {n: float(held[n]) for n in _IMPACT}
        return Cost(
            rate["impact_ms_per_min"],
            rate["impact_ms_per_request"],
            rate,
            f"ms per minute: a mean over evaluation windows weighted by age, "
            f"{rate['impact_requests_per_min']:.4g} requests per minute × "
            f"{rate['impact_ms_per_request']:.4g} ms each",
        )
    return Cost(per_min(ms_per_window, f, inputs), ms_per_request, {}, "")


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
            **figures_of(f, "pattern", "occurrences", *names, "saveable_ms_per_trace"),
            **saved.figures,
        },
        group=_call_group(f.service, a.get("parent_operation"), a.get("operation")),
        notes=saved.notes,
    )


def n_plus_one(f: Finding, inputs: Context) -> Item:
    a = f.attributes
    action = (
        f"Batch the N+1 in {f.service} {a['parent_operation']}: "
        f"{a['max_calls']} calls of {a['fingerprint'][:120]}"
    )
    return _saveable(f, inputs, action, "max_calls", "mean_calls")


def parallel(f: Finding, inputs: Context) -> Item:
    action = (
        f"Run the independent calls of {f.service} {f.attributes['parent_operation']} in parallel"
    )
    return _saveable(f, inputs, action)


def slow_query(f: Finding, inputs: Context) -> Item:
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
            **figures_of(f, "count", "p50_ms", "p95_ms", "threshold_ms", "fingerprint_id"),
            **spent.figures,
        },
        group=_slow_query_group(f),
        notes=spent.notes,
    )


def hotspot(f: Finding, inputs: Context) -> Item:
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
            **figures_of(f, "share", "entry_p95_ms", "critical_path_ms_per_trace", "traces"),
            **spent.figures,
        },
        group=_call_group(a["entry_service"], a["entry_operation"], a["operation"]),
        notes=(
            "critical-path time says where time goes, not what a fix saves: it weighs a tenth",
            *spent.notes,
        ),
    )


RULES: dict[Kind, Rule] = {
    Kind.N_PLUS_ONE: n_plus_one,
    Kind.SLOW_QUERY: slow_query,
    Kind.BOTTLENECK_IDENTIFIED: hotspot,
    Kind.RECOMMENDATION: first_rule(
        ((lambda a: "pattern" in a and "parent_operation" in a, parallel),)
    ),
}
"""The rule for each kind of finding the processor emits; of its ``recommendation``
findings, the sequential calls that could run in parallel."""
