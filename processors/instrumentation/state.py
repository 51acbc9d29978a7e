"""The instrumentation processor's document in the store: per service what it sent, and the
server time of the windows kept (so a restart judges the same window as no restart).

A document saved before the windows were (no ``windows`` key) still loads: what each
service sent is kept, and its windows refill from new spans.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, RootModel

from otel_perf.histogram import ExponentialHistogram
from otel_perf.processors.instrumentation.coverage import WINDOW_BUCKETS, Coverage, Seen


class SeenDoc(BaseModel):
    """A :class:`Seen` as saved."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    count: int
    first_ns: int
    last_ns: int


class ServiceDoc(BaseModel):
    """One service as saved: its signals, span categories and server-time windows (by the
    window's start, in ns, as text: JSON keys are strings)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    signals: dict[str, SeenDoc]
    spans: dict[str, SeenDoc]
    windows: dict[str, dict[str, Any]] = {}


class CoverageState(RootModel[dict[str, ServiceDoc]]):
    """The document: service name -> :class:`ServiceDoc`."""


def document(services: dict[str, Coverage]) -> CoverageState:
    """Every tracked service as the store's document."""
    return CoverageState(
        {
            service: ServiceDoc(
                signals={k: SeenDoc(**v.to_dict()) for k, v in coverage.signals.items()},
                spans={k: SeenDoc(**v.to_dict()) for k, v in coverage.categories.items()},
                windows={str(k): h.to_dict() for k, h in coverage.windows.items()},
            )
            for service, coverage in services.items()
        }
    )


def restore(saved: CoverageState, window_ns: int, max_services: int) -> dict[str, Coverage]:
    """The first ``max_services`` saved services, each with its two newest windows.

    Raises:
        KeyError, TypeError, ValueError: on a window that is not a saved histogram.
    """
    out: dict[str, Coverage] = {}
    for service, body in list(saved.root.items())[:max_services]:
        coverage = out[service] = Coverage(window_ns)
        for target, part in ((coverage.signals, body.signals), (coverage.categories, body.spans)):
            for name, seen in part.items():
                target[name] = Seen(seen.count, seen.first_ns, seen.last_ns)
        for start in sorted(int(k) for k in body.windows)[-2:]:
            hist = ExponentialHistogram(max_size=WINDOW_BUCKETS)  # the bound held in memory
            hist.merge(ExponentialHistogram.from_dict(body.windows[str(start)]))
            coverage.windows[start] = hist
    return out
