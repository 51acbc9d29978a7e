"""The capacity processor's recommendation rules (contributed through its surface):
right-size a container (money per month, or the request's shortfall) and raise capacity
before a forecast crossing (days to the threshold)."""

from __future__ import annotations

from otel_perf.findings import Finding, Kind
from otel_perf.processors.capacity.units import format_quantity
from otel_perf.recommend.rules import Context, Item, Rule, figures_of, first_rule, held_in

MONTH_S = 30 * 86400.0


def rightsize(f: Finding, inputs: Context) -> Item:
    a = f.attributes
    held = figures_of(f, "kind", "request", "limit", "target", "lower", "upper", "history_days")
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
            figures=held,
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
        figures=held,
    )


def _amount(value: float, unit: str) -> str:
    """Cores or bytes with their unit (``500m cores``, ``512.0 MiB``); bare without one."""
    return format_quantity(float(value), unit) if unit else f"{float(value):.4g}"


def crossing(f: Finding, inputs: Context) -> Item:
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
        figures=figures_of(f, "metric", "threshold", "at", "earliest", "latest", "method"),
    )


RULES: dict[Kind, Rule] = {
    Kind.CAPACITY_FORECAST: crossing,
    Kind.RECOMMENDATION: first_rule(
        ((lambda a: a.get("status") in ("over", "under") and "resource" in a, rightsize),)
    ),
}
"""Forecast crossings, and the right-sizing ``recommendation`` findings."""

#: the processor keeps its current findings in its snapshot (``current_findings``)
HELD = held_in("current_findings")
