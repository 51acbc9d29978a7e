"""The instrumentation processor's document in the store: per service what it sent, and the
server time of the windows kept (so a restart judges the same window as no restart).

Version 1 is the bare map a build before versions wrote (migration 0 takes it as it is). A
document saved before the windows were (no ``windows`` key) still loads: what each
service sent is kept, and its windows refill from new spans.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from otel_perf.component.state import Document, unchanged
from otel_perf.histogram import ExponentialHistogram
from otel_perf.processors.instrumentation.coverage import WINDOW_BUCKETS, Coverage, Seen


@dataclass
class SavedService:
    """One service as saved: its signals, span categories and server-time windows (by the
    window's start, in ns)."""

    signals: dict[str, Seen]
    spans: dict[str, Seen]
    windows: dict[int, ExponentialHistogram] = field(default_factory=dict)


COVERAGE = Document(dict[str, SavedService], version=1, migrations={0: unchanged})


def document(services: dict[str, Coverage]) -> dict[str, SavedService]:
    """Every tracked service as the store's document."""
    return {
        service: SavedService(coverage.signals, coverage.categories, coverage.windows)
        for service, coverage in services.items()
    }


def restore(
    saved: dict[str, SavedService], window_ns: int, max_services: int
) -> dict[str, Coverage]:
    """The first ``max_services`` saved services, each with its two newest windows."""
    out: dict[str, Coverage] = {}
    for service, body in list(saved.items())[:max_services]:
        coverage = out[service] = Coverage(window_ns, body.signals, body.spans)
        for start in sorted(body.windows)[-2:]:
            hist = ExponentialHistogram(max_size=WINDOW_BUCKETS)  # the bound held in memory
            hist.merge(body.windows[start])
            coverage.windows[start] = hist
    return out
