"""Cost from unit prices: CPU cores at ``vcpu_hour``, memory at ``gib_hour`` per GiB,
replicas at ``replica_hour``.

    hourly(cpu c cores, memory m bytes, r replicas) = r · (c · vcpu_hour + m / 2³⁰ · gib_hour
                                                          + replica_hour)

A forecast's cost is the sum over its steps of ``amount · step_hours · price``; a right-sizing
saving is the price of ``request − target`` over the window; a replica schedule saves
``(current − scheduled) · per-replica hourly`` for each hour of the window.

>>> prices = Prices(vcpu_hour=0.04, gib_hour=0.005)
>>> round(hourly("cpu", 2.0, prices), 4), round(hourly("memory", 2**31, prices), 4)
(0.08, 0.01)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

GIB = float(2**30)
HOUR_S = 3600.0


@dataclass(frozen=True)
class Prices:
    """Unit prices per hour."""

    vcpu_hour: float = 0.0
    gib_hour: float = 0.0
    replica_hour: float = 0.0


def unit_price(kind: str, prices: Prices) -> float:
    """Price of one unit-hour of ``kind``: a core for cpu, a byte for memory, else 0."""
    if kind == "cpu":
        return prices.vcpu_hour
    if kind == "memory":
        return prices.gib_hour / GIB
    return 0.0


def hourly(kind: str, amount: float, prices: Prices, replicas: int = 1) -> float:
    """Cost per hour of ``amount`` (cores or bytes) on each of ``replicas``."""
    return replicas * amount * unit_price(kind, prices)


def over_steps(kind: str, amounts: Any, step_s: float, prices: Prices, replicas: int = 1) -> float:
    """Cost of a path of amounts (e.g. a forecast's mean), one every ``step_s`` seconds."""
    total = float(np.nansum(np.clip(np.asarray(amounts, dtype=np.float64), 0.0, None)))
    return replicas * total * (step_s / HOUR_S) * unit_price(kind, prices)


def rightsizing_saving(
    kind: str, request: float, target: float, window_s: float, prices: Prices, replicas: int = 1
) -> float:
    """What requesting ``target`` instead of ``request`` saves over ``window_s`` (≥ 0)."""
    return hourly(kind, max(0.0, request - target), prices, replicas) * window_s / HOUR_S


def per_replica_hourly(cpu_cores: float, memory_bytes: float, prices: Prices) -> float:
    """One replica's hourly price: its requests plus the per-replica price."""
    return (
        hourly("cpu", cpu_cores, prices)
        + hourly("memory", memory_bytes, prices)
        + prices.replica_hour
    )


def schedule_saving(
    current: int, schedule: list[int], replica_hourly: float, window_s: float
) -> float:
    """Running ``schedule[h]`` replicas at hour h of each day instead of ``current`` all day.

    The saving per day is ``Σ_h (current − schedule[h]) · replica_hourly``, scaled to the
    window; negative when the schedule needs more replicas than run now.
    """
    if not schedule:
        return 0.0
    per_day = sum(current - n for n in schedule) * replica_hourly * 24 / len(schedule)
    return per_day * window_s / 86_400.0


__all__ = [
    "Prices",
    "hourly",
    "over_steps",
    "per_replica_hourly",
    "rightsizing_saving",
    "schedule_saving",
    "unit_price",
]
