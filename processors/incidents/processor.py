"""The ``incidents`` processor: the open findings of every processor, grouped into
incidents, each with a probable cause, impact and one action (see ``correlate``).

How it sees other processors' findings: through the store. The pipeline writes every
tick's findings to the store; at each tick this processor reads the recent ones
(``lookback``, at most ``max_findings``), keeps what is open now (the recommendations
list's notion: newest per key, not resolved, see ``otel_perf.recommend``) and
correlates them. So it runs one tick behind the findings it groups, needs nothing from
the core but the store every processor already has, and calls no processor. A tick with
no new stored finding and no new call regroups nothing (one row read), until ``refresh``.

From spans it learns the call graph (``calls``): which services each route calls, so an
upstream route's findings join their downstream's incident even when none of them
reported the critical path.

An incident keeps its id while its members change: a new group takes the id of the open
incident it shares most members with. An incident whose members have all resolved is
closed and kept among the ``max_recent`` recent ones. Open and recent incidents and each
finding's first sighting are saved at flush and loaded at start.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Any

from otel_perf.component import Context, Factory, Processor, gauges
from otel_perf.component.state import PersistedState
from otel_perf.findings import Finding, State
from otel_perf.model import SpanBatch
from otel_perf.processors.incidents.calls import CallGraph
from otel_perf.processors.incidents.config import IncidentsConfig
from otel_perf.processors.incidents.correlate import Group, correlate, with_calls
from otel_perf.processors.incidents.facts import Facts, facts_of
from otel_perf.processors.incidents.state import SAVED, STATE, SavedIncidents
from otel_perf.processors.incidents.story import incident_finding, incident_id, tell
from otel_perf.recommend.current import current_findings
from otel_perf.store import StoreWriteError

NS = 1_000_000_000
OPEN_GAUGE = "otel_perf.incident.open"
gauges.register(OPEN_GAUGE, "1", "1 per open incident (labels: incident, service, severity).")


class IncidentsProcessor(Processor):
    def __init__(self, context: Context, config: IncidentsConfig) -> None:
        super().__init__(context)
        self.config = config
        self.open: dict[str, dict[str, Any]] = {}
        self.recent: deque[dict[str, Any]] = deque(maxlen=config.max_recent)
        self.first_seen: dict[str, int] = {}  # finding key -> first event time seen open
        self.overflowed = 0
        self.calls = CallGraph(config.max_calls)
        self.evaluations = self.skipped = 0  # full regroupings, and ticks that needed none
        self._seen: tuple[object, int, int] = (None, -1, 0)  # newest row, calls version, when
        self._lock = threading.Lock()
        self.state = PersistedState(context.store, self.id, STATE, SAVED, 0.0)

    # -- input ------------------------------------------------------------------
    def consume_spans(self, batch: SpanBatch) -> None:
        """Learn which services each route calls (``calls``)."""
        with self._lock:
            version = self.calls.version
            self.calls.learn(batch)
            if self.calls.version != version:
                self.state.mark_dirty()

    # -- evaluation -----------------------------------------------------------
    def tick(self, now_ns: int) -> list[Finding]:
        """Regroup when a finding was stored or a call learned since the last regrouping,
        or ``refresh`` has passed; otherwise the tick costs one row read."""
        since = now_ns - int(self.config.lookback * NS)
        newest = self.context.store.findings(limit=1)
        mark = (newest[0].key, newest[0].time_ns, newest[0].state) if newest else None
        with self._lock:
            self.calls.expire(since)
            version = self.calls.version
        last_mark, last_version, last_ns = self._seen
        fresh = now_ns - last_ns < self.config.refresh * NS
        if mark == last_mark and version == last_version and fresh:
            self.skipped += 1
            return []
        self._seen = (mark, version, now_ns)
        self.evaluations += 1
        stored = self.context.store.findings(since_ns=since, limit=self.config.max_findings)
        return self.update(current_findings(stored, {}), now_ns)

    def update(self, findings: list[Finding], now_ns: int) -> list[Finding]:
        """Regroup the open ``findings`` and carry incidents over (pure of the store); an
        ``incident`` finding for each incident that opened, changed members or severity
        (``updated``) or resolved."""
        before = dict(self.open)
        facts = [f for f in (self._facts(x) for x in findings) if f is not None]
        with self._lock:
            facts = with_calls(facts, self.calls)
        groups = correlate(facts, int(self.config.overlap * NS))
        with self._lock:
            self.first_seen = {f.key: self.first_seen[f.key] for f in facts}
            opened = self._carried_over(groups, now_ns)
            for incident, body in self.open.items():
                if incident not in opened:
                    self.recent.appendleft({**body, "state": "resolved", "resolved_ns": now_ns})
            if _ids(opened) != _ids(self.open) or opened:
                self.state.mark_dirty()
            self.open = opened
        return self._announced(before, opened, now_ns)

    def _carried_over(self, groups: list[Group], now_ns: int) -> dict[str, dict[str, Any]]:
        """Each group as an incident (the open one it continues, or a new one), at most
        ``max_open`` of them; an incident whose story did not change is kept as it was."""
        opened: dict[str, dict[str, Any]] = {}
        owner = {m["key"]: i for i, body in self.open.items() for m in body["members"]}
        for group in groups:
            if len(opened) >= self.config.max_open:
                self.overflowed += 1
                continue
            incident = self._match(group, opened, owner)
            known = self.open.get(incident)
            if known is not None and _same_story(known, group):
                opened[incident] = known  # nothing it is told from changed
                continue
            opened[incident] = tell(group, incident)
            opened[incident]["opened_ns"] = (known or {}).get("opened_ns", now_ns)
        return opened

    def _announced(
        self, before: dict[str, dict[str, Any]], opened: dict[str, dict[str, Any]], now_ns: int
    ) -> list[Finding]:
        """The ``incident`` findings of what opened, changed or resolved since ``before``."""
        out = []
        for incident, body in opened.items():
            if incident not in before:
                out.append(incident_finding(body, now_ns, self.id))
            elif _changed(before[incident], body):
                out.append(incident_finding(body, now_ns, self.id, State.UPDATED))
        gone = [b for i, b in before.items() if i not in opened]
        return out + [incident_finding(b, now_ns, self.id, State.RESOLVED) for b in gone]

    def _facts(self, finding: Finding) -> Facts | None:
        seen = self.first_seen.setdefault(finding.key, finding.time_ns)
        return facts_of(finding, seen)

    def _match(self, group: Group, taken: dict[str, Any], owner: dict[str, str]) -> str:
        """The open incident (not yet taken) sharing most members, else a new id."""
        shared = Counter(owner[m.key] for m in group.members if m.key in owner)
        for incident, _ in sorted(shared.items(), key=lambda kv: (-kv[1], kv[0])):
            if incident not in taken:
                return incident
        return incident_id(group)

    # -- reads ----------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "open": sorted(self.open.values(), key=_order),
                "recent": list(self.recent),
                "limits": {"max_open": self.config.max_open, "max_recent": self.config.max_recent},
                "overflowed": self.overflowed,
                "calls": {
                    "edges": self.calls.edges,
                    "services": len(self.calls.services),
                    "overflowed": self.calls.overflowed,
                },
                "evaluations": self.evaluations,
                "skipped_ticks": self.skipped,
                "state_discarded": self.state.discarded,
            }

    def gauges(self) -> list[tuple[str, float, dict[str, str]]]:
        with self._lock:
            return [
                (
                    OPEN_GAUGE,
                    1.0,
                    {
                        "incident": body["id"],
                        "service": body["probable_cause"]["service"],
                        "severity": body["severity"],
                    },
                )
                for body in sorted(self.open.values(), key=_order)
            ]

    # -- state ----------------------------------------------------------------
    def start(self) -> None:
        saved = self.state.load() or SavedIncidents()  # a damaged one: logged, counted
        with self._lock:
            self.open = dict(list(saved.open.items())[: self.config.max_open])
            self.recent.extend(saved.recent)
            self.first_seen = dict(list(saved.first_seen.items())[: self.config.max_findings])
            self.calls.restore(saved.calls)

    def flush(self, now_ns: int) -> None:
        with self._lock:
            if not self.state.dirty:
                return
            saved = SavedIncidents(
                self.open, list(self.recent), self.first_seen, self.calls.saved()
            )
        try:
            self.state.save(now_ns, lambda: saved)
        except StoreWriteError:
            return  # counted by the store; still dirty, saved at the next flush


def _ids(incidents: dict[str, dict[str, Any]]) -> set[str]:
    return set(incidents)


def _same_story(body: dict[str, Any], group: Group) -> bool:
    """The same members, reported at the same times with the same severities, and the same
    cause: the incident told last time stands."""
    assert group.cause is not None
    told = [(m["key"], m["time_ns"], m["start_ns"], m["severity"]) for m in body["members"]]
    now = [(m.key, m.finding.time_ns, m.start_ns, m.finding.severity.value) for m in group.members]
    return told == now and body["probable_cause"]["key"] == group.cause.key


def _changed(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Members or severity changed: an ``updated`` incident finding."""
    keys = [{m["key"] for m in b["members"]} for b in (before, after)]
    return keys[0] != keys[1] or before["severity"] != after["severity"]


def _order(body: dict[str, Any]) -> tuple[float, int, str]:
    return (-float(body["impact"]["score"]), int(body["start_ns"]), str(body["id"]))


FACTORY: Factory[IncidentsConfig, Processor] = Factory(
    type="incidents",
    config_model=IncidentsConfig,
    create=IncidentsProcessor,
    description="Open findings grouped into incidents by shared subject, time and the call "
    "graph, each with a probable cause, its impact and one action.",
)
