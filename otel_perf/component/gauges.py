"""Names of the gauges processors publish (``Processor.gauges()``), for exporters.

Exporters create one observable instrument per registered name when they start,
so a processor registers its names at import, before any exporter starts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GaugeInfo:
    name: str
    unit: str
    description: str


_REGISTERED: dict[str, GaugeInfo] = {}


def register(name: str, unit: str, description: str) -> None:
    _REGISTERED[name] = GaugeInfo(name, unit, description)


def registered() -> list[GaugeInfo]:
    return sorted(_REGISTERED.values(), key=lambda g: g.name)
