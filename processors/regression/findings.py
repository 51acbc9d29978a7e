"""Findings of the regression processor: a verdict, or a change point, put into words."""

from __future__ import annotations

from typing import Any

from otel_perf.findings import Finding, Kind, Severity
from otel_perf.processors.regression.runs import finite, finite_dict
from otel_perf.processors.regression.stats import Verdict
from otel_perf.processors.regression.versions import Comparison

KINDS = {"regression": Kind.REGRESSION_DETECTED, "improvement": Kind.IMPROVEMENT_DETECTED}


def _shift_text(v: Verdict) -> str:
    return (
        f"median {v.hl_shift:+.3g} ms ({v.relative_shift:+.1%}, {v.confidence:.0%} CI "
        f"{v.hl_low:+.3g}..{v.hl_high:+.3g} ms), p95 {v.baseline_p95:.3g} -> "
        f"{v.current_p95:.3g} ms"
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
        "baseline_p95",
        "current_p95",
        "p95_delta",
        "n_baseline",
        "n_current",
        "confidence",
    )
    data = v.to_dict()
    return finite_dict({key: data[key] for key in keys})


def version_finding(c: Comparison, v: Verdict, now_ns: int, source: str) -> Finding | None:
    """A regression or improvement between two versions of one operation; None on pass."""
    kind = KINDS.get(v.outcome)
    if kind is None:
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
) -> Finding:
    """A level shift of an operation's p95 (``point`` has before/after levels in ms)."""
    before, after = float(point["before_ms"]), float(point["after_ms"])
    worse = after > before
    kind = Kind.REGRESSION_DETECTED if worse else Kind.IMPROVEMENT_DETECTED
    relative = f" ({after / before - 1:+.1%})" if before else ""
    return Finding(
        kind=kind,
        severity=Severity.WARNING if worse else Severity.INFO,
        service=service,
        subject=f"{operation} p95 change point",
        time_ns=now_ns,
        summary=f"{service} {operation}: p95 level changed from {before:.3g} ms to "
        f"{after:.3g} ms{relative}",
        attributes=finite({"operation": operation, **point}),
        source=source,
    )
