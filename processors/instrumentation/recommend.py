"""The instrumentation processor's recommendation rule (contributed through its surface):
check the instrumentation of a service whose traces have no exit spans."""

from __future__ import annotations

from otel_perf.findings import Finding, Kind
from otel_perf.recommend.rules import Context, Item, Rule, figures_of, first_rule


def check_instrumentation(f: Finding, inputs: Context) -> Item:
    """Server time with no exit span: the hint counts like a hotspot (a tenth of its ms)."""
    p95 = float(f.attributes["server_p95_ms"])
    return Item(
        action=f"Check the instrumentation of {f.service}: its traces have server spans but no "
        "client, DB or messaging spans (database driver or HTTP client not instrumented?)",
        category="performance",
        finding=f,
        impact_kind="critical_path_ms_per_min",
        impact_value=p95,
        impact_text=f"server p95 {p95:.0f} ms, all of it self time in the traces",
        figures=figures_of(f, "server_spans", "server_p95_ms", "no_exit_spans_s"),
    )


RULES: dict[Kind, Rule] = {
    Kind.RECOMMENDATION: first_rule(
        ((lambda a: a.get("recommendation") == "check_instrumentation", check_instrumentation),)
    ),
}
