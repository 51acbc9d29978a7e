"""Findings of the regression processor: a verdict, or a change point, put into words."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from otel_perf.findings import Finding, Kind, Severity
from otel_perf.processors.regression.runs import finite, finite_dict
from otel_perf.processors.regression.stats import Verdict
from otel_perf.processors.regression.versions import Comparison

KINDS = {"regression": Kind.REGRESSION_DETECTED, "improvement": Kind.IMPROVEMENT_DETECTED}


def _shift_text(v: Verdict) -> str:
    early = f" after {v.samples_to_verdict} samples" if v.samples_to_verdict else ""
    return (
        f"median {v.hl_shift:+.3g} ms ({v.relative_shift:+.1%}, {v.confidence:.0%} CI "
        f"{v.hl_low:+.3g}..{v.hl_high:+.3g} ms), p95 {v.baseline_p95:.3g} -> "
        f"{v.current_p95:.3g} ms, slowest 20 % {v.tail_change:+.1%}; "
        f"certainty {v.certainty:.1%}{early}"
    )


def verdict_attributes(v: Verdict) -> dict[str, Any]:
    keys = (
        "p_value",
        "hl_shift",
        "hl_low",
        "hl_high",
        "relative_shift",
        "relative_low",
        "relative_high",
        "cliffs_delta",
        "baseline_p50",
        "current_p50",
        "baseline_p95",
        "current_p95",
        "p95_delta",
        "n_baseline",
        "n_current",
        "confidence",
        "tail_change",
        "tail_p_value",
        "p_adjusted",
        "certainty",
        "false_alarm_rate",
        "samples_to_verdict",
    )
    data = v.to_dict()
    return finite_dict({key: data[key] for key in keys})


def version_finding(
    c: Comparison, v: Verdict, now_ns: int, source: str, context: dict[str, Any] | None = None
) -> Finding | None:
    """A regression or improvement between two versions of one operation; None on pass, and
    on a statement the new version calls differently (``call_change`` in ``context``,
    ``usage.py``: not a change of the query; the comparison stays in the analysis).
    ``context``: what was compared (``basis``, ``environment_drift``) and a statement's
    executions and time per request of each version, added as attributes."""
    kind = KINDS.get(v.outcome)
    if kind is None or (context or {}).get("call_change"):
        return None
    worse = kind == Kind.REGRESSION_DETECTED
    return Finding(
        kind=kind,
        severity=Severity.WARNING if worse else Severity.INFO,
        service=c.service,
        subject=f"{c.operation} {c.old_version} -> {c.new_version}",
        time_ns=now_ns,
        summary=f"{c.service} {c.operation}: {v.outcome} from version {c.old_version} to "
        f"{c.new_version}, {_shift_text(v)}",
        attributes={
            "operation": c.operation,
            "old_version": c.old_version,
            "new_version": c.new_version,
            "reason": v.reason,
            **verdict_attributes(v),
            **finite_dict(context or {}),
        },
        source=source,
    )


def run_finding(name: str, v: Verdict, now_ns: int, source: str) -> Finding | None:
    """A named test (or benchmark) that regressed or improved against its baseline."""
    kind = KINDS.get(v.outcome)
    if kind is None:
        return None
    return Finding(
        kind=kind,
        severity=Severity.WARNING if kind == Kind.REGRESSION_DETECTED else Severity.INFO,
        service=name.split(" ", 1)[0] if name.startswith("auto:") else "benchmark",
        subject=name,
        time_ns=now_ns,
        summary=f"{name}: {v.outcome} against its baseline, {_shift_text(v)}",
        attributes={"test": name, "reason": v.reason, **verdict_attributes(v)},
        source=source,
    )


def change_finding(
    service: str, operation: str, point: dict[str, Any], now_ns: int, source: str
) -> Finding | None:
    """A change of an operation's p95: level or slope, before and after, when, which release.

    ``point`` comes from ``describe.describe_change`` plus ``release`` (or None), and
    ``changes.py``'s usage figures. A change of how a statement is called (``call_change``,
    ``usage.py``) is no finding (None): not a regression of the query, and the route's own
    series says whether users gained; the change point stays in the analysis. Nor is a
    change the service's other series shared (``environment_explained``, ``environment.py``):
    a change of load or of a shared dependency, not of this operation.
    """
    if point.get("call_change") or point.get("environment_explained"):
        return None
    before, after = float(point["before_ms"]), float(point["after_ms"])
    level = point.get("kind", "level") == "level"
    worse = after > before if level else point["slope_after_ms_per_min"] > 0
    kind = Kind.REGRESSION_DETECTED if worse else Kind.IMPROVEMENT_DETECTED
    return Finding(
        kind=kind,
        severity=Severity.WARNING if worse and level else Severity.INFO,
        service=service,
        subject=f"{operation} p95 change point",
        time_ns=now_ns,
        summary=f"{service} {operation}: {_change_text(point)}",
        attributes=finite({"operation": operation, **_flat(point)}),
        source=source,
    )


def _change_text(point: dict[str, Any]) -> str:
    before, after = float(point["before_ms"]), float(point["after_ms"])
    if point.get("kind", "level") == "level":
        relative = f" ({after / before - 1:+.1%})" if before > 0 else ""
        what = f"p95 level changed from {before:.3g} ms to {after:.3g} ms{relative}"
    else:
        what = (
            f"p95 trend changed from {point['slope_before_ms_per_min']:+.3g} to "
            f"{point['slope_after_ms_per_min']:+.3g} ms/min (at {before:.3g} ms)"
        )
    when = ""
    if point.get("time_low_s") is not None and point.get("time_high_s") is not None:
        when = (
            f", starting between {_clock(point['time_low_s'])} and "
            f"{_clock(point['time_high_s'])} UTC, declared {point.get('delay_points')} "
            "intervals later"
        )
    release = point.get("release")
    with_release = (
        f"; coincides with release {release['old_version']} -> {release['new_version']}"
        if release
        else "; no release coincides"
    )
    environment = f"; {point['environment_note']}" if point.get("environment_note") else ""
    return what + when + with_release + environment


def _clock(time_s: float) -> str:
    return datetime.fromtimestamp(time_s, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _flat(point: dict[str, Any]) -> dict[str, Any]:
    """The point with its release as ``release_old_version`` / ``release_new_version``."""
    out = {k: v for k, v in point.items() if k != "release" and v is not None}
    release = point.get("release")
    if release:
        out["release_old_version"] = release["old_version"]
        out["release_new_version"] = release["new_version"]
    return out
