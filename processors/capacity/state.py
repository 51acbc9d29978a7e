"""The capacity processor's state document: the resources it knows and when each began.

Usage history has its own tables (``history.py``); this document only keeps what a
resource *is* across a restart, so a resource seen before keeps its kind, unit and
thresholds and its first sample time. Written through
:class:`otel_perf.component.state.PersistedState` on every flush that follows a change.
"""

from __future__ import annotations

from pydantic import BaseModel, RootModel

from otel_perf.processors.capacity.usage import ResourceInfo

STATE = "resources"


class Resource(BaseModel):
    """One known resource (``ResourceInfo``'s fields) and its first sample's time."""

    name: str
    service: str
    metric: str
    kind: str
    unit: str
    thresholds: list[float] = []
    first_ns: int | None = None

    @classmethod
    def of(cls, info: ResourceInfo, first_ns: int | None) -> Resource:
        return cls(**info.to_dict(), first_ns=first_ns)

    def info(self) -> ResourceInfo:
        return ResourceInfo(
            self.name, self.service, self.metric, self.kind, self.unit, tuple(self.thresholds)
        )


class Resources(RootModel[dict[str, Resource]]):
    """The state document: resource name → resource."""
