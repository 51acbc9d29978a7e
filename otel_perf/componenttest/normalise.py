"""What golden files compare: behaviour, not volatile details.

A finding keeps its kind, severity, state, service, subject, source and event time, its
attributes with floats rounded to three significant digits, and the names (not the
values) of its evidence; hex ids become ``<id>``. The summary text is left out: its
wording is the renderers' business, its figures are in the attributes. Exporter output
is kept exactly (it depends on its input alone) but for wall-clock times and per-process
values (``VOLATILE_KEYS``): a time under one of those keys is kept when it falls within a
day of the case's own event times (an interval's bounds, an alert's start) and masked
otherwise (when it was sent, observed or expires).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from otel_perf.findings import Finding
from otel_perf.series import SeriesInterval

#: significant digits kept of a float
DIGITS = 3
#: keys whose values are wall-clock times or per-run identities in exporter output
VOLATILE_KEYS = frozenset(
    {
        "observedTimeUnixNano",
        "timeUnixNano",
        "startTimeUnixNano",
        "startsAt",
        "endsAt",
        "updatedAt",
        # OTLP resource attributes ({"key": ..., "value": ...}): per process, per release
        "service.instance.id",
        "telemetry.sdk.version",
    }
)
_HEX_ID = re.compile(r"^(?:[0-9a-f]{16}|[0-9a-f]{32})$")
DAY_NS = 86_400 * 10**9


@dataclass(frozen=True)
class Volatile:
    """Keys whose values are masked, unless they are times within ``event_ns`` ± a day."""

    keys: frozenset[str] = VOLATILE_KEYS
    event_ns: tuple[int, int] | None = None

    def masks(self, key: str, value: Any) -> bool:
        if key not in self.keys:
            return False
        at = _time_ns(value)
        if at is None or self.event_ns is None:
            return True
        return not self.event_ns[0] - DAY_NS <= at <= self.event_ns[1] + DAY_NS


def _time_ns(value: Any) -> int | None:
    """``value`` as Unix ns: an int, a numeric string (OTLP JSON) or an RFC 3339 string."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, str):
        try:
            return int(datetime.fromisoformat(value).timestamp() * 1e9)
        except ValueError:
            return None
    return None


def normalise_finding(finding: Finding) -> dict[str, Any]:
    """The parts of ``finding`` a golden file pins."""
    return {
        "kind": finding.kind.value,
        "severity": finding.severity.value,
        "state": finding.state.value,
        "service": finding.service,
        "subject": finding.subject,
        "source": finding.source,
        "time_ns": finding.time_ns,
        "attributes": normalise_value(finding.attributes),
        "evidence": sorted(finding.evidence),
    }


def sort_key(finding: dict[str, Any]) -> tuple[Any, ...]:
    """Findings of one tick in a stable order whatever order a processor emits them."""
    return (finding["time_ns"], finding["kind"], finding["service"], finding["subject"])


def normalise_value(value: Any, volatile: Volatile | None = None, exact: bool = False) -> Any:
    """``value`` with ``volatile`` values masked, and unless ``exact`` (an exporter's
    output, a function of its input alone) floats rounded and hex ids masked."""
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if exact else float(f"{value:.{DIGITS}g}")
    if isinstance(value, str):
        return "<id>" if not exact and _HEX_ID.match(value) else value
    if isinstance(value, dict):
        return _normalise_mapping(value, volatile, exact)
    if isinstance(value, list | tuple):
        return [normalise_value(v, volatile, exact) for v in value]
    return str(value)


def _normalise_mapping(value: dict[Any, Any], volatile: Volatile | None, exact: bool) -> Any:
    name = value.get("key")
    if volatile and isinstance(name, str) and "value" in value and volatile.masks(name, None):
        return {"key": name, "value": "<volatile>"}  # an OTLP attribute
    return {
        str(k): "<volatile>"
        if volatile and volatile.masks(str(k), v)
        else normalise_value(v, volatile, exact)
        for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))
    }


def normalise_interval(interval: SeriesInterval) -> dict[str, Any]:
    """A published series interval: its bounds and per series calls, errors and the
    duration sketch's count, sum, min, max, p50 and p99 (seconds, rounded)."""
    series = []
    for key, red in sorted(interval.values.items(), key=lambda kv: kv[0].label()):
        sketch = red.duration_s
        figures: dict[str, Any] = {}
        if sketch.count:
            figures = {"count": sketch.count, "sum": sketch.sum}
            figures |= {"min": sketch.min, "max": sketch.max}
            figures |= dict(zip(("p50", "p99"), sketch.quantiles((0.5, 0.99)), strict=True))
        row = {"key": key.to_dict(), "calls": red.calls, "errors": red.errors, **figures}
        series.append(normalise_value(row))
    return {
        "start_ns": interval.start_ns,
        "end_ns": interval.end_ns,
        "resolution_s": interval.resolution_s,
        "rollup": interval.rollup,
        "aggregated": interval.aggregated,
        "series": series,
    }
