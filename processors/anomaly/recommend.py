"""The anomaly processor's recommendation rule (contributed through its surface): investigate
an open anomaly, ranked by its score."""

from __future__ import annotations

from collections.abc import Callable

from otel_perf.findings import Finding, Kind
from otel_perf.recommend.rules import Context, Item, ProcessorSnapshots, Rule, figures_of


def anomaly(f: Finding, inputs: Context) -> Item:
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
        figures=figures_of(f, "value", "expected_low", "expected_high", "start_ns", "points"),
    )


RULES: dict[Kind, Rule] = {Kind.ANOMALY_DETECTED: anomaly}


def closed_by(snapshots: ProcessorSnapshots) -> Callable[[Finding], bool]:
    """An anomaly whose series has no open episode in the running processor's snapshot is
    over, whatever the store holds (without an anomaly processor: nothing to say)."""
    open_series = {
        (pid, episode["series"])
        for pid, snapshot in snapshots.items()
        for episode in snapshot.get("open_episodes", [])
    }
    if not snapshots:
        return lambda f: False
    return lambda f: f.kind == Kind.ANOMALY_DETECTED and (f.source, f.subject) not in open_series
