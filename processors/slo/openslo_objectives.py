"""An OpenSLO objective entry's own fields (target, threshold, timeslices) and its window."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from otel_perf.processors.slo.objective import (
    BudgetingMethod,
    TimeWindow,
)
from otel_perf.processors.slo.openslo_documents import _Doc
from otel_perf.processors.slo.openslo_schema import (
    _ObjectiveSpec,
    _Window,
)


@dataclass(frozen=True)
class _Indicator:
    """What an SLI decides of the objectives that use it."""

    threshold: bool  # thresholdMetric: each objective gives op and value
    fields: dict[str, Any]
    seconds_per_unit: float = 1.0


_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
_SHORTHAND = re.compile(r"^(\d+)([mhdwMQY])$")


def _objective(
    doc: _Doc,
    budgeting: BudgetingMethod,
    entry: _ObjectiveSpec,
    path: str,
    indicator: _Indicator | None,
) -> dict[str, Any]:
    """The objective's own fields; problems go to ``doc``."""
    fields: dict[str, Any] = {"target": _target(doc, entry, path)}
    if indicator is not None and indicator.threshold:
        if entry.op != "lte":
            got = f', got "{entry.op}"' if entry.op else ""
            doc.add(
                f"{path}.op" if entry.op else path,
                f"a latency objective counts requests at or under value as good: use op: lte{got}",
            )
        if entry.value is None or entry.value <= 0:
            got = f", got {_number(entry.value)}" if entry.value is not None else ""
            doc.add(f"{path}.value" if got else path, f"value (above 0) is required{got}")
        else:
            fields["threshold_s"] = entry.value * indicator.seconds_per_unit
    elif indicator is not None:
        for key, given in (("op", entry.op), ("value", entry.value)):
            if given is not None:
                doc.add(f"{path}.{key}", "only used with a thresholdMetric")
    fields.update(_timeslices(doc, budgeting, entry, path))
    return fields


def _target(doc: _Doc, entry: _ObjectiveSpec, path: str) -> float | None:
    if entry.target is not None and entry.target_percent is not None:
        doc.add(f"{path}.targetPercent", "give target or targetPercent, not both")
    elif entry.target is not None:
        if 0 < entry.target < 1:
            return entry.target
        doc.add(f"{path}.target", f"must be between 0 and 1, got {_number(entry.target)}")
    elif entry.target_percent is not None:
        if 0 < entry.target_percent < 100:
            return float(Decimal(str(entry.target_percent)) / 100)
        got = _number(entry.target_percent)
        doc.add(f"{path}.targetPercent", f"must be between 0 and 100, got {got}")
    else:
        doc.add(path, "target or targetPercent is required")
    return None


def _timeslices(
    doc: _Doc, budgeting: BudgetingMethod, entry: _ObjectiveSpec, path: str
) -> dict[str, Any]:
    slice_target, slice_window = entry.time_slice_target, entry.time_slice_window
    if budgeting != BudgetingMethod.TIMESLICES and slice_target is not None:
        doc.add(f"{path}.timeSliceTarget", "only used with Timeslices budgeting")
    if budgeting == BudgetingMethod.OCCURRENCES:
        if slice_window is not None:
            doc.add(f"{path}.timeSliceWindow", "not used with Occurrences budgeting")
        return {}
    if slice_window is None:
        doc.add(path, f"timeSliceWindow is required with {budgeting} budgeting (1m)")
    elif _slice_s(slice_window) != 60:
        doc.add(
            f"{path}.timeSliceWindow",
            f"otel-perf judges one-minute timeslices: use 1m, got {slice_window!r}",
        )
    if budgeting == BudgetingMethod.RATIO_TIMESLICES:
        return {}
    if slice_target is None:
        doc.add(path, "timeSliceTarget is required with Timeslices budgeting")
    elif not 0 < slice_target <= 1:
        got = _number(slice_target)
        doc.add(f"{path}.timeSliceTarget", f"must be above 0 and at most 1, got {got}")
    return {"timeslice_target": slice_target}


def _slice_s(value: Any) -> float | None:
    """timeSliceWindow: a number of minutes or a duration shorthand."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) * 60
    match = _SHORTHAND.match(value) if isinstance(value, str) else None
    if match and match.group(2) in _SECONDS:
        return int(match.group(1)) * _SECONDS[match.group(2)]
    return None


def _window(doc: _Doc, windows: list[_Window]) -> TimeWindow | None:
    if not windows:
        return TimeWindow()
    if len(windows) > 1:
        doc.add("spec.timeWindow", f"exactly one time window, got {len(windows)}")
        return None
    window, path = windows[0], "spec.timeWindow[0]"
    rolling = window.is_rolling if window.is_rolling is not None else window.calendar is None
    if not rolling:
        return _calendar(doc, window, path)
    if window.calendar is not None:
        doc.add(f"{path}.calendar", "a rolling window has no calendar (isRolling: false)")
        return None
    duration_s = _rolling_s(doc, window.duration, f"{path}.duration")
    if duration_s == 0:
        doc.add(f"{path}.duration", "must be longer than 0")
    return TimeWindow(duration_s=duration_s) if duration_s else None


def _rolling_s(doc: _Doc, value: str, path: str) -> float | None:
    match = _SHORTHAND.match(value)
    if match is None:
        doc.add(path, f'expected a duration like "30d" (m, h, d, w, M, Q, Y), got "{value}"')
        return None
    if match.group(2) not in _SECONDS:
        doc.add(path, f'rolling durations take m, h, d or w; "{value}" needs a calendar window')
        return None
    return float(int(match.group(1)) * _SECONDS[match.group(2)])


def _calendar(doc: _Doc, window: _Window, path: str) -> TimeWindow | None:
    if window.calendar is None:
        doc.add(path, "a calendar window (isRolling: false) needs calendar: startTime, timeZone")
        return None
    before = len(doc.problems)
    periods = {"1w": ("week", 7 * 86400.0), "1M": ("month", 30 * 86400.0)}
    if window.duration not in periods:
        doc.add(
            f"{path}.duration",
            f'calendar windows are 1w (an ISO week) or 1M (a month), got "{window.duration}"',
        )
    zone = window.calendar.time_zone
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        doc.add(f"{path}.calendar.timeZone", f'unknown IANA time zone "{zone}"')
    calendar, duration_s = periods.get(window.duration, ("month", 0.0))
    _start_time(doc, window.calendar.start_time, calendar, f"{path}.calendar.startTime")
    if len(doc.problems) > before:
        return None
    return TimeWindow(duration_s=duration_s, calendar=calendar, timezone=zone)


def _start_time(doc: _Doc, value: Any, calendar: str, path: str) -> None:
    """otel-perf's calendar windows start at a month's or an ISO week's start."""
    start: datetime | None = None
    if isinstance(value, datetime):
        start = value if value.tzinfo is None else None
    elif isinstance(value, date):
        start = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            start = datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            pass
    if start is None:
        doc.add(path, f'expected "YYYY-MM-DD hh:mm:ss" without a time zone, got {value!r}')
    elif start.time() != time() or (start.day if calendar == "month" else start.isoweekday()) != 1:
        first = "the 1st" if calendar == "month" else "a Monday"
        doc.add(path, f"otel-perf {calendar}s start on {first} at 00:00:00, got {start}")


def _pairs(attributes: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """Objective.metric_attributes: sorted pairs of strings (booleans as true/false)."""
    return tuple(
        sorted(
            (key, str(v).lower() if isinstance(v, bool) else str(v))
            for key, v in attributes.items()
        )
    )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)
