"""One health verdict — ok, degraded or critical — with the reasons, from every source.

The verdict is the worst status any check returns. Each check is a plain function of
``HealthInputs`` returning ``Reason`` s, listed in ``CHECKS`` (add one to extend):

* ``ingest_queue``: the ingest queue is full → degraded (the API answers 503).
* ``ingest_counts``: telemetry refused (queue full) or rejected (invalid), components
  failing (a processor, subscriber or exporter raised; ``store`` = store writes failed)
  or exports failing, since the baseline reading → degraded.
* ``store``: the store's writes are failing (disk full, read-only) → degraded.
The analysis checks come from the components, each through its factory's surface
(``Surface.health``; see each processor's ``health.py``): ``slo`` (a page burn-rate alert of
a declared objective → critical), ``anomaly``, ``regression`` and ``capacity`` (→ degraded).

The checks are pure; ``IngestBaseline`` is the small stateful shell that remembers earlier
counter readings so "rising" means "within the last ``window_s``".
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from otel_perf.component import surfaces
from otel_perf.findings import Finding
from otel_perf.recommend.current import current_findings
from otel_perf.recommend.rules import Snapshots

NS = 1_000_000_000
STATUSES = ("ok", "degraded", "critical")
INGEST_WINDOW_S = 300.0
#: counter readings kept by IngestBaseline are at least this far apart
SAMPLE_GAP_S = 5.0


@dataclass(frozen=True)
class Reason:
    """Why the status is not ok: which source, how bad, in words."""

    source: str
    status: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "status": self.status, "text": self.text}


@dataclass(frozen=True)
class HealthInputs:
    """What the verdict is drawn from.

    Attributes:
        snapshots: processor snapshots by type and id (``Pipeline.snapshot``).
        telemetry: ``Telemetry.snapshot()``.
        findings: recent stored findings, any order.
        baseline: ``ingest_counters`` of an earlier reading; None compares with zero
            (everything counted since start-up).
        store: ``Store.status()`` (``fault`` set while writes fail).
    """

    snapshots: Snapshots
    telemetry: Mapping[str, Any]
    findings: Sequence[Finding] = ()
    baseline: Mapping[str, int] | None = None
    store: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)  # for checks added later


@dataclass(frozen=True)
class Verdict:
    status: str
    reasons: list[Reason]

    @property
    def queue_full(self) -> bool:
        return any(r.source == "ingest" and "queue is full" in r.text for r in self.reasons)


Check = Callable[[HealthInputs], list[Reason]]


def worse(current: str, other: str) -> str:
    return max(current, other, key=STATUSES.index)


def evaluate(inputs: HealthInputs, checks: Sequence[Check] | None = None) -> Verdict:
    """The worst status of every check, with every reason (worst first)."""
    reasons = [r for check in (all_checks() if checks is None else checks) for r in check(inputs)]
    status = "ok"
    for reason in reasons:
        status = worse(status, reason.status)
    ordered = sorted(reasons, key=lambda r: -STATUSES.index(r.status))
    return Verdict(status, ordered)


# -- ingest -----------------------------------------------------------------------------


def ingest_queue(inputs: HealthInputs) -> list[Reason]:
    queue = inputs.telemetry.get("queue", {})
    depth, capacity = int(queue.get("depth", 0)), int(queue.get("capacity", 0))
    if capacity and depth >= capacity:
        return [Reason("ingest", "degraded", f"ingest queue is full ({depth}/{capacity} items)")]
    return []


def ingest_counters(telemetry: Mapping[str, Any]) -> dict[str, int]:
    """The counters whose rise means trouble, flat: ``refused:spans``, ``component:<id>``..."""
    out: dict[str, int] = {}
    receiver = telemetry.get("receiver", {})
    for outcome in ("refused", "rejected"):
        for signal, n in receiver.get(outcome, {}).items():
            out[f"{outcome}:{signal}"] = int(n)
    for name, n in telemetry.get("component_errors", {}).items():
        out[f"component:{name}"] = int(n)
    for name, n in telemetry.get("export_errors", {}).items():
        out[f"export:{name}"] = int(n)
    return out


def ingest_counts(inputs: HealthInputs) -> list[Reason]:
    now = ingest_counters(inputs.telemetry)
    before = inputs.baseline or {}
    since = "since start-up" if inputs.baseline is None else "recently"
    reasons = []
    for name, n in sorted(now.items()):
        delta = n - before.get(name, 0)
        if delta > 0:
            reasons.append(Reason("ingest", "degraded", _counter_text(name, delta, since)))
    return reasons


def _counter_text(name: str, delta: int, since: str) -> str:
    what, _, who = name.partition(":")
    if what == "refused":
        return f"{delta} {who} refused {since} (queue full; clients retry)"
    if what == "rejected":
        return f"{delta} {who} rejected as invalid {since}"
    if what == "component" and who == "store":
        return f"{delta} store writes failed {since}"
    if what == "component":
        return f"component {who} failed {delta} times {since}"
    return f"exporter {who}: {delta} failed exports {since}"


class IngestBaseline:
    """Earlier counter readings, so a check compares with the one about ``window_s`` ago.

    Keeps at most one reading per ``SAMPLE_GAP_S`` and drops those older than the newest
    reading that is itself older than the window, so memory stays bounded.
    """

    def __init__(
        self, window_s: float = INGEST_WINDOW_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window_s = window_s
        self.clock = clock
        self.samples: deque[tuple[float, dict[str, int]]] = deque(
            maxlen=int(window_s / SAMPLE_GAP_S) + 2
        )

    def update(self, counters: dict[str, int]) -> dict[str, int] | None:
        """Record ``counters`` now; return the reading to compare with (None: the first)."""
        now = self.clock()
        cutoff = now - self.window_s
        while len(self.samples) >= 2 and self.samples[1][0] <= cutoff:
            self.samples.popleft()
        baseline = self.samples[0][1] if self.samples else None
        if not self.samples or now - self.samples[-1][0] >= SAMPLE_GAP_S:
            self.samples.append((now, dict(counters)))
        return baseline


def store(inputs: HealthInputs) -> list[Reason]:
    fault = inputs.store.get("fault")
    if not fault:
        return []
    return [Reason("store", "degraded", f"store: {fault['message']} since {fault['since']}")]


def open_findings(inputs: HealthInputs) -> list[Finding]:
    """The findings still open (for the components' checks)."""
    return current_findings(inputs.findings, inputs.snapshots)


#: the core's own checks; :func:`all_checks` adds the components'
CHECKS: list[Check] = [ingest_queue, ingest_counts, store]


def all_checks() -> list[Check]:
    """The core's checks, then every registered component's (``Surface.health``)."""
    return [*CHECKS, *(check for s in surfaces() for check in s.health)]
