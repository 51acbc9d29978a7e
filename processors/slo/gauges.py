"""The SLO gauges exporters publish: names registered at import, rows per objective."""

from __future__ import annotations

from otel_perf.component import gauges
from otel_perf.processors.slo.state import ObjectiveState

Row = tuple[str, float, dict[str, str]]

gauges.register("otel_perf.slo.sli", "1", "SLI over the objective's window.")
gauges.register("otel_perf.slo.target", "1", "The objective's target.")
gauges.register(
    "otel_perf.slo.error_budget.remaining",
    "1",
    "Error budget remaining over the window (negative: exhausted).",
)
gauges.register("otel_perf.slo.burn_rate", "1", "Error budget burn rate per alert window.")


def objective_gauges(state: ObjectiveState) -> list[Row]:
    """SLI, target, budget remaining and burn rate per window of one evaluated objective,
    labelled with ``slo.origin`` (``declared`` or ``suggested``) so rules page on the first."""
    last = state.last
    budget = last.get("budget")
    if not budget:
        return []
    o = state.objective
    attrs = {
        "service.name": o.service,
        "objective": o.name,
        "sli.kind": o.kind.value,
        "slo.origin": "suggested" if o.suggested else "declared",
    }
    out: list[Row] = [
        ("otel_perf.slo.sli", float(budget["sli"]), attrs),
        ("otel_perf.slo.target", o.target, attrs),
        ("otel_perf.slo.error_budget.remaining", float(budget["error_budget_remaining"]), attrs),
    ]
    for rule in last["rules"]:
        for side in ("long", "short"):
            window = {**attrs, "window": rule[side]["window"]}
            out.append(("otel_perf.slo.burn_rate", float(rule[side]["burn_rate"]), window))
    return out
