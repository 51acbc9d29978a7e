"""The slo processor's recommendation rule (contributed through its surface): investigate a
burning or breached objective, with its budget figures.

The figures come from the running processor's snapshot (its ``objectives``), falling back
to the finding's own attributes where the snapshot has no view of the objective.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from otel_perf.findings import Finding, Kind
from otel_perf.recommend.rules import Context, Item, ProcessorSnapshots, Rule


def _objective(snap: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    """The objective called ``name`` in an SLO processor's snapshot, if it has one."""
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


def objective_rule(f: Finding, inputs: Context) -> Item | None:
    """A burning or breached objective, with its budget figures from the SLO snapshot.

    The running processor's view decides: an objective it no longer tracks, or tracks
    as healthy, gives no item (the stored finding is stale), so recommendations agree
    with ``slo`` and health after a restart. A suggested (zero-config) objective's burn
    weighs a hundredth of a declared one's: it must not crowd out actions.
    """
    a = f.attributes
    snapshots = inputs.snapshots.get("slo", {})
    view = _objective(snapshots.get(f.source, {}), a["objective"])
    if view is None and f.source in snapshots:
        return None  # the processor runs and does not know the objective (any more)
    if view is not None and not _objective_bad(view):
        return None  # the stored finding is stale: the processor says all is well
    suggested = bool((view or a).get("suggested"))
    budget = (view or {}).get("budget") or {}
    remaining = budget.get("error_budget_remaining", a.get("error_budget_remaining"))
    burn = _burn_rate(view, a)
    window_s = _window_s(str((view or {}).get("window") or a.get("window") or ""))
    text = _exhaustion(remaining, burn, window_s)
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


RULES: dict[Kind, Rule] = {
    Kind.BURN_RATE_ALERT: objective_rule,
    Kind.SLO_VIOLATION: objective_rule,
}


def evaluated_ns(snapshots: ProcessorSnapshots) -> list[int]:
    """When each objective was last evaluated (event time): "now" for what is open."""
    return [
        int(view.get("at_ns") or 0)
        for snapshot in snapshots.values()
        for view in snapshot.get("objectives", [])
    ]
