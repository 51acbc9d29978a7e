"""Amounts with their unit, for people: ``1.5 GiB``, ``250m cores``, ``42.0 %``.

Units are the OTel/UCUM ones the capacity processor records: ``1`` (a utilization, 0 to 1),
``By`` (bytes), ``{cpu}`` (cores, CPU-seconds per second). Anything else prints as a number
followed by its unit.

>>> format_quantity(0.4213, "1")
'42.1 %'
>>> format_quantity(3 * 2**20, "By")
'3.0 MiB'
>>> format_quantity(0.25, "{cpu}"), format_quantity(2.5, "{cpu}")
('250m cores', '2.5 cores')
>>> format_quantity(None, "By")
'-'
"""

from __future__ import annotations

import math

UTILIZATION = "1"
BYTES = "By"
CORES = "{cpu}"
#: what a right-sizing in each unit is a recommendation of
QUANTITY_OF_UNIT = {UTILIZATION: "utilization", BYTES: "bytes", CORES: "cores"}
_BINARY = (("TiB", 2.0**40), ("GiB", 2.0**30), ("MiB", 2.0**20), ("KiB", 2.0**10))


def format_bytes(value: float) -> str:
    """Binary multiples, one decimal: ``512.0 MiB``, ``1.5 GiB``; under 1 KiB in bytes."""
    for name, size in _BINARY:
        if abs(value) >= size:
            return f"{value / size:.1f} {name}"
    return f"{value:.0f} B"


def format_cores(value: float) -> str:
    """Millicores under one core (``250m cores``), else cores (``2.5 cores``)."""
    if abs(value) < 1:
        return f"{value * 1000:.0f}m cores"
    return f"{value:.3g} cores"


def format_quantity(value: float | None, unit: str) -> str:
    """``value`` in ``unit`` as a person reads it; ``-`` for None or a non-finite value."""
    if value is None or not math.isfinite(value):
        return "-"
    if unit == UTILIZATION:
        return f"{value * 100:.1f} %"
    if unit == BYTES:
        return format_bytes(value)
    if unit == CORES:
        return format_cores(value)
    return f"{value:.4g} {unit}".rstrip()


__all__ = [
    "BYTES",
    "CORES",
    "QUANTITY_OF_UNIT",
    "UTILIZATION",
    "format_bytes",
    "format_cores",
    "format_quantity",
]
