"""One health verdict — ok, degraded or critical — with the reasons, from every source.

The verdict is the worst status any check returns. Each check is a plain function of
``HealthInputs`` returning ``Reason`` s, listed in ``CHECKS`` (add one to extend):

* ``ingest_queue``: the ingest queue is full → degraded (the API answers 503).
* ``ingest_counts``: telemetry refused (queue full) or rejected (invalid), components
  failing (a processor, subscriber or exporter raised; ``store`` = store writes failed)
  or exports failing, since the baseline reading → degraded.
* ``store``: the store's writes are failing (disk full, read-only) → degraded.
* ``slo``: a page burn-rate alert of a declared objective firing → critical; a ticket
  firing or a declared objective breached → degraded. Suggested (zero-config) objectives
  warn at most: any of their burn-rate alerts firing → degraded; their breaches are shown
  by ``slo`` but do not change health (a default that does not fit is not an incident).
* ``anomalies``: an open anomaly episode of severity critical → degraded.
* ``regressions``: a regression detected within ``REGRESSION_WINDOW_NS`` (24 h of event
  time) of the newest finding → degraded.
* ``capacity``: a critical capacity forecast open (a threshold crossing within the
  capacity processor's ``critical_within``, 7 days by default) → degraded.

The checks are pure; ``IngestBaseline`` is the small stateful shell that remembers earlier
counter readings so "rising" means "within the last ``window_s``".
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from otel_perf.findings import Finding, Kind, Severity
from otel_perf.recommendations import Snapshots, current_findings, now_of

NS = 1_000_000_000
STATUSES = ("ok", "degraded", "critical")
REGRESSION_WINDOW_NS = 24 * 3600 * NS
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
    reasons = [r for check in (CHECKS if checks is None else checks) for r in check(inputs)]
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


# -- analysis ---------------------------------------------------------------------------


def slo(inputs: HealthInputs) -> list[Reason]:
    reasons = []
    for snap in inputs.snapshots.get("slo", {}).values():
        for view in snap.get("objectives", []):
            suggested = bool(view.get("suggested"))
            note = " (suggested objective: warns only)" if suggested else ""
            for alert, state in view["alerts"].items():
                if state["firing"]:
                    status = "critical" if alert == "page" and not suggested else "degraded"
                    text = f"{view['name']}: burn-rate {alert} firing{note}"
                    reasons.append(Reason("slo", status, text))
            if view["breached"] and not suggested:
                text = f"{view['name']}: SLO breached over {view['window']}"
                reasons.append(Reason("slo", "degraded", text))
    return reasons


def _open(inputs: HealthInputs) -> list[Finding]:
    return current_findings(inputs.findings, inputs.snapshots)


def anomalies(inputs: HealthInputs) -> list[Reason]:
    """Open episodes any of whose findings was critical (an episode is its key and start)."""
    critical = {
        (f.key, f.attributes.get("start_ns"))
        for f in inputs.findings
        if f.kind == Kind.ANOMALY_DETECTED and f.severity == Severity.CRITICAL
    }
    return [
        Reason("anomaly", "degraded", f"critical anomaly in {f.service}: {f.summary}")
        for f in _open(inputs)
        if f.kind == Kind.ANOMALY_DETECTED and (f.key, f.attributes.get("start_ns")) in critical
    ]


def regressions(inputs: HealthInputs) -> list[Reason]:
    now = now_of(inputs.findings, inputs.snapshots)
    return [
        Reason("regression", "degraded", f"regression in {f.service}: {f.summary}")
        for f in _open(inputs)
        if f.kind == Kind.REGRESSION_DETECTED and now - f.time_ns <= REGRESSION_WINDOW_NS
    ]


def capacity(inputs: HealthInputs) -> list[Reason]:
    return [
        Reason("capacity", "degraded", f.summary)
        for f in _open(inputs)
        if f.kind == Kind.CAPACITY_FORECAST and f.severity == Severity.CRITICAL
    ]


CHECKS: list[Check] = [ingest_queue, ingest_counts, store, slo, anomalies, regressions, capacity]
