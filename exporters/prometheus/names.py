"""OTel names as Prometheus names, by the rules the OTel Prometheus reader applies.

The reader (``opentelemetry-exporter-prometheus``) keeps its mapping in a private module;
this is ours, checked against the reader's output by ``tests/exporters/test_prometheus_names.py``
so it cannot drift. The rules are the specification's (`Prometheus and OpenMetrics
compatibility <https://github.com/open-telemetry/opentelemetry-specification/blob/v1.33.0/
specification/compatibility/prometheus_and_openmetrics.md#metric-metadata-1>`_): every run of
characters outside ``[a-zA-Z0-9:]`` (labels: ``[a-zA-Z0-9]``) becomes one ``_``, a leading
digit becomes ``_``; a unit becomes a name suffix (``s`` → ``seconds``, ``By/s`` →
``bytes_per_second``, ``{call}`` → nothing), which ``prometheus_client`` appends.
"""

from __future__ import annotations

import re

_METRIC = re.compile(r"[^a-zA-Z0-9:]+")
_LABEL = re.compile(r"[^a-zA-Z0-9]+")
_ANNOTATION = re.compile(r"{.*}")  # UCUM annotations: text in curly braces

#: UCUM and SI units as Prometheus suffixes (the Collector's ``normalize_name.go``)
UNITS: dict[str, str] = {
    "d": "days",
    "h": "hours",
    "min": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "TiBy": "tibibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "GBy": "gigabytes",
    "TBy": "terabytes",
    "m": "meters",
    "V": "volts",
    "A": "amperes",
    "J": "joules",
    "W": "watts",
    "g": "grams",
    "Cel": "celsius",
    "Hz": "hertz",
    "1": "",
    "%": "percent",
}
#: the denominator of a ``top/bottom`` unit, singular (``m/s`` → ``meters_per_second``)
PER_UNITS: dict[str, str] = {
    "s": "second",
    "m": "minute",
    "h": "hour",
    "d": "day",
    "w": "week",
    "mo": "month",
    "y": "year",
}


def _leading_digit(name: str) -> str:
    return "_" + name[1:] if name and name[0].isdigit() else name


def metric_name(name: str, prefix: str | None = None) -> str:
    """A metric name (with the reader's ``prefix_``), before its unit suffix and ``_total``."""
    return _METRIC.sub("_", _leading_digit(f"{prefix}_{name}" if prefix else name))


def label_name(key: str) -> str:
    """An attribute key as a label name (``service.name`` → ``service_name``)."""
    return _LABEL.sub("_", _leading_digit(key))


def unit_suffix(unit: str) -> str:
    """A unit as the name suffix ``prometheus_client`` appends ("" for none)."""
    unit = _ANNOTATION.sub("", unit)
    if unit in UNITS:
        return UNITS[unit]
    top, slash, bottom = unit.partition("/")
    bottom = _METRIC.sub("_", bottom)
    if slash and bottom:
        top = _METRIC.sub("_", top)
        top, bottom = UNITS.get(top, top), PER_UNITS.get(bottom, bottom)
        return f"{top}_per_{bottom}" if top else f"per_{bottom}"
    return _METRIC.sub("_", unit).strip("_")
