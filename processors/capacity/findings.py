"""Findings from one resource's analysis: a ``capacity_forecast`` per threshold the forecast
reaches within the window, a ``recommendation`` when the request is outside the right-sizing
bounds. Each comes with the magnitude the announcer compares (days until, or the target)."""

from __future__ import annotations

from otel_perf.findings import Finding, Kind, Severity
from otel_perf.processors.capacity.analysis import Analysis, Crossing, iso
from otel_perf.processors.capacity.config import CapacityConfig
from otel_perf.processors.capacity.cost import Prices, rightsizing_saving
from otel_perf.processors.capacity.rightsizing import Recommendation
from otel_perf.processors.capacity.settings import ABSOLUTE_UNITS
from otel_perf.processors.capacity.units import format_quantity
from otel_perf.processors.capacity.usage import ResourceInfo

ALL_SERVICES = "*"


def findings_of(
    info: ResourceInfo, analysis: Analysis, config: CapacityConfig, source: str, now_ns: int
) -> list[tuple[Finding, float]]:
    out = [
        crossing_finding(info, analysis, c, config, source, now_ns)
        for c in analysis.crossings
        if c.crosses
    ]
    rec = analysis.absolute_sizing  # a request is compared in cores or bytes
    if rec is not None and rec.status in ("over", "under"):
        out.append(rightsizing_finding(info, rec, config, source, now_ns))
    return out


def crossing_finding(
    info: ResourceInfo,
    analysis: Analysis,
    crossing: Crossing,
    config: CapacityConfig,
    source: str,
    now_ns: int,
) -> tuple[Finding, float]:
    days = crossing.days_until or 0.0
    soon = days * 86_400 < config.critical_within
    label = crossing.threshold.label
    when = iso(crossing.at_ns) or "?"
    finding = Finding(
        kind=Kind.CAPACITY_FORECAST,
        severity=Severity.CRITICAL if soon else Severity.WARNING,
        service=info.service or ALL_SERVICES,
        subject=f"{info.name} >= {label}",
        time_ns=now_ns,
        summary=f"{info.name} is forecast to reach {label} ({crossing.threshold.value:g}) "
        f"in {days:.1f} days, on {when[:10]} (between {(iso(crossing.earliest_ns) or '?')[:10]}"
        f" and {(iso(crossing.latest_ns) or 'after the window')[:10]})",
        attributes={
            "resource": info.name,
            "metric": info.metric,
            "threshold": crossing.threshold.value,
            "threshold_label": label,
            "at": when,
            "earliest": iso(crossing.earliest_ns),
            "latest": iso(crossing.latest_ns),
            "days_until": round(days, 3),
            "level": config.level,
            "method": analysis.forecast.method if analysis.forecast else "",
        },
        source=source,
    )
    return finding, max(days, 1.0 / 24)


def rightsizing_finding(
    info: ResourceInfo, rec: Recommendation, config: CapacityConfig, source: str, now_ns: int
) -> tuple[Finding, float]:
    over = rec.status == "over"
    unit = ABSOLUTE_UNITS[info.kind]
    attributes: dict[str, object] = {
        "resource": info.name,
        "kind": info.kind,
        "unit": unit,
        "status": rec.status,
        "target": rec.target,
        "lower": rec.lower,
        "upper": rec.upper,
        "request": rec.request,
        "limit": rec.limit,
        "history_days": round(rec.history_days, 3),
    }
    saving = ""
    if over and config.cost is not None and rec.request is not None:
        prices = Prices(config.cost.vcpu_hour, config.cost.gib_hour, config.cost.replica_hour)
        replicas = config.replicas[info.service].count if info.service in config.replicas else 1
        amount = rightsizing_saving(
            info.kind, rec.request, rec.target, config.forecast_window, prices, replicas
        )
        attributes["saving"] = amount
        attributes["currency"] = config.cost.currency
        saving = f", saving {amount:.2f} {config.cost.currency} per forecast window"
    what = "over-provisioned" if over else "under-provisioned"
    request = "none" if rec.request is None else format_quantity(rec.request, unit)
    target, lower, upper = (format_quantity(v, unit) for v in (rec.target, rec.lower, rec.upper))
    finding = Finding(
        kind=Kind.RECOMMENDATION,
        severity=Severity.INFO if over else Severity.WARNING,
        service=info.service or ALL_SERVICES,
        subject=f"{info.name} right-size",
        time_ns=now_ns,
        summary=f"{info.name} is {what}: request {request}, recommended {target} "
        f"(bounds {lower}..{upper}){saving}",
        attributes=attributes,
        source=source,
    )
    return finding, rec.target
