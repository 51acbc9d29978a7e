"""The slo processor's saved documents, declared once (pydantic validates them on load).

* one per objective (its name): :class:`SavedObjective` — the minute counts (rings packed
  by :meth:`windows.MinuteCounts.to_dict`), its alerts, whether it is breached, and how
  long it has been watched;
* ``#default-services``: the services that have suggested objectives;
* ``#route-baselines``: the routes' learned latency baselines.

A document that does not fit (damaged, or from another version) is dropped on start: that
objective starts empty, counted in ``state_discarded`` and logged once.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, RootModel, TypeAdapter

from otel_perf.processors.slo.burn_rate import AlertState

DEFAULT_SERVICES = "#default-services"
ROUTE_BASELINES = "#route-baselines"


class SavedCounts(BaseModel):
    """:meth:`windows.MinuteCounts.to_dict`: each ring base64 of its zlib-packed bytes."""

    version: Literal[1]  # windows.FORMAT_VERSION
    head_minute: int | None
    minute_horizon: int
    hour_slots: int
    ratio: bool = False
    counters: dict[str, int]
    minutes: str
    flags: str
    hours: str


class SavedObservation(BaseModel):
    """The gap-free stretch of event time the objective has been watched."""

    since_ns: int | None = None
    last_ns: int | None = None


class SavedObjective(BaseModel):
    """One objective's counts, alerts, breach and observation."""

    counts: SavedCounts
    alerts: list[AlertState] = []
    breached: bool = False
    observation: SavedObservation | None = None


class DefaultServices(RootModel[list[str]]):
    """The services tracked with suggested objectives, so a restart tracks them again."""


class LearnedRoutes(RootModel[list[tuple[str, str, dict[str, float]]]]):
    """``[service, route, {percentile: seconds}]`` of each route's learned baseline."""


ALERT = TypeAdapter(AlertState)
