"""Rich rendering of the capacity routes' answers for ``otel-perf capacity``."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from otel_perf.processors.capacity.units import format_quantity


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, int | float):
        return f"{value:.{digits}g}"
    return str(value)


def _amount(value: Any, unit: str) -> str:
    """A usage figure in its unit (``%``, ``MiB``, ``cores``); other units as numbers."""
    if isinstance(value, int | float) and unit:
        return format_quantity(float(value), unit)
    return _num(value)


def _sizing(rec: dict[str, Any]) -> tuple[str, str, str]:
    """Target, bounds and request in the recommendation's unit; cores or bytes beside a
    utilization's when the capacity is known."""
    text = rec.get("text") or {}
    target, bounds, request = (
        text.get("target", "-"),
        f"{text.get('lower', '-')} .. {text.get('upper', '-')}",
        text.get("request", "-"),
    )
    absolute = rec.get("absolute")
    if absolute:
        extra = absolute.get("text") or {}
        target += f" ({extra.get('target', '-')})"
        if absolute.get("request") is not None:
            request = f"{extra.get('request', '-')} ({request})"
    return target, bounds, request


def _crossings(entry: dict[str, Any]) -> str:
    parts = []
    for c in entry.get("thresholds") or []:
        if c.get("crosses"):
            parts.append(f"{c['label']} in {_num(c.get('days_until'))} d")
    return ", ".join(parts) or "none ahead"


def _seasons(entry: dict[str, Any]) -> str:
    names = {86_400.0: "daily", 604_800.0: "weekly"}
    seasons = entry.get("seasons") or []
    return (
        ", ".join(
            f"{names.get(float(s['period_s']), str(s['period_s']) + 's')} {s['strength']:.2f}"
            for s in seasons
        )
        or "none"
    )


def print_dashboard(console: Console, data: dict[str, Any]) -> None:
    """One row per resource; right-sizing and cost below."""
    resources: dict[str, Any] = data.get("resources") or {}
    if not resources:
        console.print("no usage recorded yet")
        return
    table = Table(title="Capacity")
    table.add_column("resource", no_wrap=True)
    for column in ("service", "current", "p90", "trend", "seasons", "thresholds"):
        table.add_column(column, no_wrap=column in ("current", "p90"))  # "61.1 %" stays whole
    for name, entry in resources.items():
        table.add_row(
            name,
            entry.get("service", ""),
            _amount(entry.get("current"), str(entry.get("unit") or "")),
            _amount(entry.get("p90"), str(entry.get("unit") or "")),
            str(entry.get("trend", "")),
            _seasons(entry),
            _crossings(entry) if entry.get("forecast") else (entry.get("reason") or "-"),
        )
    console.print(table)
    sizing = Table(title="Right-sizing and cost")
    sizing.add_column("resource", no_wrap=True)
    for column in ("status", "target", "bounds", "request", "cost/h", "saving"):
        sizing.add_column(column)
    for name, entry in resources.items():
        rec = entry.get("rightsizing")
        cost = entry.get("cost") or {}
        if rec is None and not cost:
            continue
        rec = rec or {}
        target, bounds, request = _sizing(rec) if rec else ("-", "-", "-")
        sizing.add_row(
            name,
            str(rec.get("status", "-")),
            target,
            bounds,
            request,
            _num(cost.get("current_hourly")),
            _num(cost.get("rightsizing_saving")),
        )
    if sizing.row_count:
        console.print(sizing)


def print_forecast(console: Console, data: dict[str, Any]) -> None:
    """The summary line, thresholds, then the points (thinned to at most 48 rows)."""
    summary = data.get("forecast")
    if summary is None:
        console.print(f"{data.get('name')}: no forecast yet ({data.get('reason') or 'no data'})")
        return
    console.print(
        f"{data.get('name')} ({data.get('service')}): {summary['method']}, "
        f"{summary['level']:.0%} interval, seasons {_seasons(data)}, trend {data.get('trend')}"
    )
    console.print(f"thresholds: {_crossings(data)}")
    points = data.get("points") or []
    step = max(1, len(points) // 48)
    table = Table()
    for column in ("time", "lower", "mean", "upper"):
        table.add_column(column)
    unit = str(data.get("unit") or "")
    for point in points[::step]:
        table.add_row(point["time"], *(_amount(point[k], unit) for k in ("lower", "mean", "upper")))
    console.print(table)


def print_autoscaling(console: Console, data: dict[str, Any], which: str = "both") -> None:
    """The YAML (HPA, KEDA or both), then the replica schedule."""
    if which in ("hpa", "both"):
        console.print(data["hpa_yaml"], markup=False, highlight=False, soft_wrap=True)
    if which == "both":
        console.print("---")
    if which in ("keda", "both"):
        console.print(data["keda_yaml"], markup=False, highlight=False, soft_wrap=True)
    schedule = data.get("schedule") or []
    if schedule:
        table = Table(title="Expected replicas")
        for column in ("from", "demand", "replicas", "safe"):
            table.add_column(column)
        for row in schedule:
            table.add_row(
                row["start"], _num(row["demand"]), str(row["replicas"]), str(row["replicas_safe"])
            )
        console.print(table)
