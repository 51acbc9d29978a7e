"""JSON-ready views of analyses (dashboard entries, forecast points) and exported gauges."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from otel_perf.processors.capacity.analysis import NS, Analysis, Inputs, iso
from otel_perf.processors.capacity.config import CapacityConfig
from otel_perf.processors.capacity.cost import (
    Prices,
    hourly,
    over_steps,
    per_replica_hourly,
    rightsizing_saving,
    schedule_saving,
)
from otel_perf.processors.capacity.rightsizing import Recommendation
from otel_perf.processors.capacity.settings import ABSOLUTE_UNITS
from otel_perf.processors.capacity.units import QUANTITY_OF_UNIT, UTILIZATION, format_quantity
from otel_perf.processors.capacity.usage import ResourceInfo

HORIZONS = (("1h", 3600.0), ("1d", 86_400.0), ("7d", 7 * 86_400.0), ("30d", 30 * 86_400.0))
FLAT = 0.05  # a change over the window under 5 % of the level is no trend


def _num(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def dashboard_entry(
    info: ResourceInfo, analysis: Analysis, config: CapacityConfig, inputs: Inputs
) -> dict[str, Any]:
    """Everything shown for one resource."""
    fc = analysis.forecast
    return {
        **info.to_dict(),
        "analysed_at": iso(analysis.made_ns),
        "interval_s": analysis.interval_s,
        "samples": analysis.samples,
        "history_days": analysis.history_s / 86_400,
        "current": _num(analysis.current),
        "p90": _num(analysis.p90),
        "trend_per_day": analysis.trend_per_day,
        "trend": direction(analysis, config.forecast_window),
        "seasons": [
            {"period_s": s.period_s, "strength": s.strength} for s in (fc.seasons if fc else ())
        ],
        "peaks": _peaks(analysis),
        "forecast": None if fc is None else _summary(analysis),
        "reason": analysis.reason,
        "min_history_s": inputs.min_history_s,
        # event time until forecasts start (0 once forecast): they need min_history
        "forecast_in_s": 0.0
        if fc is not None
        else max(0.0, inputs.min_history_s - analysis.history_s),
        "thresholds": [c.to_dict() for c in analysis.crossings],
        "rightsizing": rightsizing_view(info, analysis, inputs),
        "cost": cost_view(info, analysis, config, inputs),
    }


def direction(analysis: Analysis, window_s: float) -> str:
    """up, down or flat: the change over the window against 5 % of the forecast level."""
    fc = analysis.forecast
    if fc is None:
        return "unknown"
    change = analysis.trend_per_day * window_s / 86_400
    level = abs(float(fc.mean[0])) or 1.0
    if abs(change) < FLAT * level:
        return "flat"
    return "up" if change > 0 else "down"


def rightsizing_view(
    info: ResourceInfo, analysis: Analysis, inputs: Inputs
) -> dict[str, Any] | None:
    """The recommendation in the series' own unit, with ``unit``, ``quantity`` and ``text``.

    A utilization series is sized as a utilization: target and bounds in 0..1 (``saturated``
    when the target would exceed 1), the request and limit as shares of the capacity; with a
    known capacity, ``absolute`` holds the same in cores or bytes. A cores or bytes series is
    sized in its own unit.
    """
    rec, unit = analysis.rightsizing, inputs.sizing_unit
    if rec is None or unit is None:
        return None
    view = _sized(rec, unit)
    if unit == UTILIZATION:
        view["saturated"] = rec.target > 1.0
        for name in ("target", "lower", "upper"):
            view[name] = min(1.0, max(0.0, view[name]))
        view["text"] = _texts(view, unit)
        absolute = analysis.absolute_sizing
        view["absolute"] = None if absolute is None else _sized(absolute, ABSOLUTE_UNITS[info.kind])
    return view


def _sized(rec: Recommendation, unit: str) -> dict[str, Any]:
    view = {**rec.to_dict(), "unit": unit, "quantity": QUANTITY_OF_UNIT[unit]}
    view["text"] = _texts(view, unit)
    return view


def _texts(view: dict[str, Any], unit: str) -> dict[str, str]:
    names = ("target", "lower", "upper", "request", "limit")
    return {name: format_quantity(view[name], unit) for name in names}


def _peaks(analysis: Analysis) -> dict[str, Any] | None:
    p = analysis.peaks
    if p is None:
        return None
    return {
        "peak_hours": p.peak_hours,
        "peak_weekdays": p.peak_weekdays,
        "hour_means": [_num(v) for v in p.hour_means],
        "weekday_means": [_num(v) for v in p.weekday_means],
    }


def _summary(analysis: Analysis) -> dict[str, Any]:
    fc = analysis.forecast
    assert fc is not None  # callers check
    return {
        "method": fc.method,
        "level": fc.level,
        "steps": int(fc.mean.size),
        "horizon_s": fc.mean.size * fc.interval_s,
        "end": _point(analysis, fc.mean.size - 1),
        "max": float(np.max(fc.mean)),
    }


def _point(analysis: Analysis, i: int) -> dict[str, Any]:
    fc = analysis.forecast
    assert fc is not None
    t_ns = analysis.step_ns(i + 1)
    return {
        "time": iso(t_ns),
        "t": t_ns / NS,
        "mean": float(fc.mean[i]),
        "lower": float(fc.lower[i]),
        "upper": float(fc.upper[i]),
    }


def forecast_points(analysis: Analysis, horizon_s: float | None) -> list[dict[str, Any]]:
    """Forecast points up to ``horizon_s`` after the last bucket (all when None)."""
    fc = analysis.forecast
    if fc is None:
        return []
    n = fc.mean.size
    if horizon_s is not None:
        n = min(n, max(1, math.ceil(horizon_s / fc.interval_s)))
    return [_point(analysis, i) for i in range(n)]


def _prices(config: CapacityConfig) -> Prices | None:
    c = config.cost
    return None if c is None else Prices(c.vcpu_hour, c.gib_hour, c.replica_hour)


def cost_view(
    info: ResourceInfo, analysis: Analysis, config: CapacityConfig, inputs: Inputs
) -> dict[str, Any] | None:
    """Current hourly cost, the forecast window's cost and the right-sizing saving."""
    prices, factor = _prices(config), inputs.to_absolute
    if prices is None or factor is None or analysis.current is None or config.cost is None:
        return None
    settings = config.replicas.get(info.service)
    replicas = settings.count if settings else 1
    request = inputs.request
    rec = analysis.absolute_sizing
    fc = analysis.forecast
    view: dict[str, Any] = {
        "currency": config.cost.currency,
        "basis": "usage" if request is None else "request",
        "current_hourly": hourly(info.kind, analysis.current * factor, prices)
        if request is None
        else hourly(info.kind, request, prices, replicas),
        "forecast_window_cost": None,
        "rightsizing_saving": 0.0,
    }
    if fc is not None:
        path = fc.mean * factor
        if request is not None:
            path = np.maximum(path, request)
        view["forecast_window_cost"] = over_steps(
            info.kind, path, fc.interval_s, prices, replicas if request is not None else 1
        )
    if rec is not None and rec.status == "over" and request is not None:
        view["rightsizing_saving"] = rightsizing_saving(
            info.kind, request, rec.target, config.forecast_window, prices, replicas
        )
    return view


def services_view(config: CapacityConfig) -> dict[str, Any]:
    """Per service with replicas configured: count, per-replica price, schedule saving."""
    prices = _prices(config)
    out: dict[str, Any] = {}
    for service, settings in sorted(config.replicas.items()):
        entry: dict[str, Any] = {
            "replicas": settings.count,
            "capacity_rps": settings.capacity_rps,
            "schedule": settings.schedule,
        }
        if prices is not None:
            requests = config.amounts(config.requests, service)
            each = per_replica_hourly(requests.cpu or 0.0, requests.memory or 0.0, prices)
            entry["replica_hourly"] = each
            entry["schedule_saving"] = schedule_saving(
                settings.count, settings.schedule, each, config.forecast_window
            )
        out[service] = entry
    return out


def gauge_rows(info: ResourceInfo, analysis: Analysis) -> list[tuple[str, float, dict[str, str]]]:
    """Usage, forecast and bounds at 1h/1d/7d/30d, days to thresholds, the sizing target."""
    attrs = {"resource": info.name, "service.name": info.service}
    rows: list[tuple[str, float, dict[str, str]]] = []
    if analysis.current is not None:
        rows.append(("otel_perf.capacity.usage", analysis.current, attrs))
    fc = analysis.forecast
    if fc is not None:
        for label, seconds in HORIZONS:
            step = math.ceil(seconds / fc.interval_s) - 1
            if step >= fc.mean.size:
                continue
            at = {**attrs, "horizon": label}
            rows.append(("otel_perf.capacity.forecast", float(fc.mean[step]), at))
            rows.append(("otel_perf.capacity.forecast.lower", float(fc.lower[step]), at))
            rows.append(("otel_perf.capacity.forecast.upper", float(fc.upper[step]), at))
    for crossing in analysis.crossings:
        if crossing.days_until is not None:
            at = {**attrs, "threshold": crossing.threshold.label}
            rows.append(("otel_perf.capacity.time_to_threshold", crossing.days_until, at))
    if analysis.absolute_sizing is not None:
        at = {**attrs, "unit": ABSOLUTE_UNITS[info.kind]}
        rows.append(("otel_perf.capacity.recommended_request", analysis.absolute_sizing.target, at))
    if analysis.rightsizing is not None and info.unit == UTILIZATION:
        target = min(1.0, analysis.rightsizing.target)
        rows.append(("otel_perf.capacity.target_utilization", target, attrs))
    return rows
