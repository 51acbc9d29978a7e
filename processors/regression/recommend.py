"""The regression processor's recommendation rule (contributed through its surface): roll
back or investigate a regression, ranked by the users' time per minute it costs where span
metrics give the traffic, else by its relative change."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from otel_perf.findings import Finding, Kind
from otel_perf.processors.regression.traffic import (
    STATEMENT_PREFIX,
    RouteTraffic,
    route_traffic,
    statement_traffic,
)
from otel_perf.recommend.rules import Context, Item, Rule, figures_of

#: a version comparison's and a benchmark verdict's figures
_SHIFT_FIGURES: tuple[str, ...] = ("hl_shift", "baseline_p95", "current_p95", "p_value")


def regression(f: Finding, inputs: Context) -> Item:
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
    figures = figures_of(f, "old_version", "new_version", *_SHIFT_FIGURES)
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
        return _relative(f, action, relative, figures_of(f, *_CHANGE_FIGURES), "its ")
    shift, per_min = after - before, rate_s * 60.0
    cost = max(shift, 0.0) * per_min
    calls, whose = ("requests", "users' time")
    if statement is not None or operation.startswith(STATEMENT_PREFIX):
        calls, whose = "executions", "database time on the routes that run it"
    figures = {
        **figures_of(f, *_CHANGE_FIGURES),
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
        **figures_of(f, "old_version", "new_version", *_SHIFT_FIGURES),
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


RULES: dict[Kind, Rule] = {Kind.REGRESSION_DETECTED: regression}
