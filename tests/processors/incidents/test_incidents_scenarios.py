"""Injected faults that touch several processors at once become one incident each, with
the injected fault as the probable cause; an unrelated simultaneous fault is another."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from benchmarks._incident_faults import (
    NS,
    Fault,
    cpu_saturation,
    downstream,
    release_statement,
    scenario,
)
from otel_perf.component import Context
from otel_perf.findings import Finding, Kind, State
from otel_perf.processors.incidents.config import IncidentsConfig
from otel_perf.processors.incidents.processor import OPEN_GAUGE, IncidentsProcessor
from otel_perf.store import Store

T0 = 1_800_000_000 * NS
NOW = T0 + 300 * NS


def run(store: Store, findings: list[Finding], now: int = NOW) -> IncidentsProcessor:
    store.add_findings(findings)
    processor = IncidentsProcessor(Context("incidents", store), IncidentsConfig())
    processor.start()
    processor.tick(now)
    return processor


def cause_of(incident: dict[str, object]) -> dict[str, object]:
    cause = incident["probable_cause"]
    assert isinstance(cause, dict)
    return cause


def assert_one_incident_per_fault(faults: list[Fault], incidents: list[dict[str, object]]) -> None:
    assert len(incidents) == len(faults)
    for fault in faults:
        keys = {f.key for f in fault.findings}
        (mine,) = [i for i in incidents if {m["key"] for m in i["members"]} == keys]  # type: ignore[attr-defined, index]
        cause = cause_of(mine)
        assert cause["service"] == fault.cause_service
        assert cause["kind"] in {k.value for k in fault.cause_kinds}
        assert fault.cause_subject in str(cause["subject"])


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "s.db")
    yield s  # type: ignore[misc]
    s.close()


def test_release_slowing_a_statement_is_one_incident_caused_by_the_statement(
    store: Store,
) -> None:
    fault = release_statement("search", T0, random.Random(1))
    snap = run(store, fault.findings).snapshot()
    assert_one_incident_per_fault([fault], snap["open"])
    (incident,) = snap["open"]
    reasoning = cause_of(incident)["reasoning"]
    assert isinstance(reasoning, dict)
    assert reasoning["release"] == {"old": "1.0", "new": "2.0"}
    assert reasoning["layer"] == "statement or resource"
    assert len(reasoning["explains"]) == 4  # route regression, slow requests, anomaly, burn
    assert "index" in incident["action"].lower() or "query" in incident["action"].lower()
    assert incident["impact"]["slow_requests"] == 40


def test_downstream_slowing_is_one_incident_with_the_downstream_as_cause(store: Store) -> None:
    fault = downstream("pricing", ["checkout", "cart"], T0, random.Random(2))
    snap = run(store, fault.findings).snapshot()
    assert_one_incident_per_fault([fault], snap["open"])
    reasoning = cause_of(snap["open"][0])["reasoning"]
    assert isinstance(reasoning, dict)
    assert reasoning["downstream_of"] == ["cart", "checkout"]


def test_cpu_saturation_is_one_incident_caused_by_capacity(store: Store) -> None:
    fault = cpu_saturation("api", T0, random.Random(3))
    snap = run(store, fault.findings).snapshot()
    assert_one_incident_per_fault([fault], snap["open"])


def test_an_unrelated_simultaneous_fault_is_a_second_incident(store: Store) -> None:
    faults = [
        release_statement("search", T0, random.Random(4)),
        downstream("pricing", ["checkout"], T0, random.Random(5)),
    ]
    processor = run(store, [f for fault in faults for f in fault.findings])
    snap = processor.snapshot()
    assert_one_incident_per_fault(faults, snap["open"])
    assert [g[0] for g in processor.gauges()] == [OPEN_GAUGE, OPEN_GAUGE]


@pytest.mark.parametrize("seed", range(20))
def test_seeded_multi_fault_scenarios(store: Store, seed: int) -> None:
    faults = scenario(seed, T0)
    snap = run(store, [f for fault in faults for f in fault.findings]).snapshot()
    assert_one_incident_per_fault(faults, snap["open"])


def test_findings_apart_in_time_are_apart(store: Store) -> None:
    early = release_statement("search", T0, random.Random(6)).findings
    late = [
        f.model_copy(update={"time_ns": f.time_ns + 7200 * NS, "attributes": {}})
        for f in early
        if f.kind.value in ("slow_request",)
    ]
    snap = run(store, early + late, NOW + 7200 * NS).snapshot()
    assert len(snap["open"]) == 2


def test_incidents_keep_their_id_across_a_restart_and_resolve(store: Store) -> None:
    fault = release_statement("search", T0, random.Random(7))
    first = run(store, fault.findings)
    (opened,) = first.snapshot()["open"]
    first.flush(NOW)
    first.shutdown()
    again = IncidentsProcessor(Context("incidents", store), IncidentsConfig())
    again.start()
    assert [i["id"] for i in again.snapshot()["open"]] == [opened["id"]]
    assert again.tick(NOW + 60 * NS) == []  # known before the restart: not announced again
    assert [i["id"] for i in again.snapshot()["open"]] == [opened["id"]]
    resolved = {"state": State.RESOLVED, "time_ns": NOW + 90 * NS}
    store.add_findings([f.model_copy(update=resolved) for f in fault.findings])
    (closed,) = again.tick(NOW + 120 * NS)
    assert (closed.kind, closed.subject, closed.state) == (
        Kind.INCIDENT,
        opened["id"],
        State.RESOLVED,
    )
    snap = again.snapshot()
    assert snap["open"] == []
    assert [(i["id"], i["state"]) for i in snap["recent"]] == [(opened["id"], "resolved")]


def test_open_incidents_are_bounded(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    faults = [cpu_saturation(f"svc{i}", T0, random.Random(i)) for i in range(5)]
    store.add_findings([f for fault in faults for f in fault.findings])
    processor = IncidentsProcessor(Context("incidents", store), IncidentsConfig(max_open=3))
    processor.tick(NOW)
    snap = processor.snapshot()
    assert len(snap["open"]) == 3
    assert snap["overflowed"] == 2
    store.close()


def test_an_opened_incident_is_one_incident_finding(store: Store) -> None:
    fault = release_statement("search", T0, random.Random(8))
    store.add_findings(fault.findings)
    processor = IncidentsProcessor(Context("incidents", store), IncidentsConfig())
    (announced,) = processor.tick(NOW)
    (incident,) = processor.snapshot()["open"]
    assert announced.kind == Kind.INCIDENT and announced.event_name == "otel_perf.incident"
    assert (announced.subject, announced.service, announced.state) == (
        incident["id"],
        "search",
        State.OPEN,
    )
    assert announced.attributes["cause_kind"] == "slow_query"
    assert announced.attributes["members"] == len(fault.findings)
    assert sorted(announced.evidence["finding_keys"]) == sorted(f.key for f in fault.findings)
    store.add_findings([announced])  # as the pipeline stores it: never a member of itself
    assert processor.tick(NOW + 60 * NS) == []
    assert [i["id"] for i in processor.snapshot()["open"]] == [incident["id"]]
