"""The capacity processor's state document: the resources it knows and when each began.

Usage history has its own tables (``history.py``); this document only keeps what a
resource *is* across a restart, so a resource seen before keeps its kind, unit and
thresholds and its first sample time. Version 1 is the map of resources by name; a build
before versions wrote that same map bare (version 0), so it migrates as it is. Written
through :class:`otel_perf.component.state.PersistedState` on every flush that follows a
change.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from otel_perf.component.state import Document, unchanged
from otel_perf.processors.capacity.usage import ResourceInfo

STATE = "resources"


@dataclass(frozen=True)
class Resource:
    """One known resource (``ResourceInfo``'s fields) and its first sample's time."""

    name: str
    service: str
    metric: str
    kind: str
    unit: str
    thresholds: tuple[float, ...] = ()
    first_ns: int | None = None

    @classmethod
    def of(cls, info: ResourceInfo, first_ns: int | None) -> Resource:
        return cls(**asdict(info), first_ns=first_ns)

    def info(self) -> ResourceInfo:
        return ResourceInfo(
            self.name, self.service, self.metric, self.kind, self.unit, self.thresholds
        )


Resources = dict[str, Resource]  # the state document: resource name -> resource
RESOURCES = Document(Resources, version=1, migrations={0: unchanged})
