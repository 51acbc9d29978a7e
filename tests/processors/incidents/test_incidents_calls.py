"""The call graph learned from spans: an upstream symptom whose own critical path was not
reported still joins its downstream's incident; a call from a route not in trouble joins
nothing. And a tick with nothing new costs one row read."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import scenarios
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from benchmarks._incident_faults import NS, Fault, downstream, release_statement, traffic
from otel_perf.codec import decode, encode
from otel_perf.component import Context
from otel_perf.decode import Decoder
from otel_perf.findings import Finding, Kind, State
from otel_perf.processors.incidents.calls import CallGraph, SavedCalls
from otel_perf.processors.incidents.config import IncidentsConfig
from otel_perf.processors.incidents.processor import IncidentsProcessor
from otel_perf.store import Store

T0 = 1_800_000_000 * NS
NOW = T0 + 300 * NS


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "s.db")
    yield s
    s.close()


def shop_calls(max_calls: int = 100) -> CallGraph:
    graph = CallGraph(max_calls)
    decoder = Decoder()
    for body in scenarios.generate(None, traces=60).requests:
        graph.learn(decoder.spans(ExportTraceServiceRequest.FromString(body))[0])
    return graph


def test_calls_are_learned_per_route_from_the_shops_spans() -> None:
    graph = shop_calls()
    assert graph.callees("frontend", frozenset({"POST /api/checkout"})) == {"checkout"}
    assert graph.callees("checkout", frozenset({"POST /checkout"})) == {"payments"}
    # the order routes call no other service; the card processor never serves here
    assert graph.callees("checkout", frozenset({"GET /orders"})) == frozenset()
    assert graph.callees("payments", frozenset({"POST /charge"})) == frozenset()
    assert graph.callees("checkout", frozenset()) == frozenset()  # no route: nothing
    assert sorted(graph.services) == ["checkout", "frontend", "payments"]


def test_a_peer_names_a_service_by_host_first_label_or_with_a_port() -> None:
    graph = shop_calls()
    for peer in ("payments", "payments.shop.svc.cluster.local", "payments:8080"):
        assert graph.service_of(peer) == "payments"
    for peer in ("psp", "payments-db", "10.0.0.7:8080", "postgresql.internal"):
        assert graph.service_of(peer) is None


def test_calls_are_bounded_saved_and_forgotten_when_old() -> None:
    graph = shop_calls(max_calls=2)
    assert graph.edges == 2 and graph.overflowed > 0
    full = shop_calls()
    again = CallGraph(100)
    again.restore(decode(SavedCalls, json.loads(json.dumps(encode(SavedCalls, full.saved())))))
    assert again.calls == full.calls and again.services == full.services
    newest = max(full.services.values())
    again.expire(newest + 1)
    assert (again.calls, again.services, again.edges) == ({}, {}, 0)


def open_incidents(
    store: Store, findings: list[Finding], faults: list[Fault] | None
) -> list[dict[str, Any]]:
    """The incidents of ``findings``, with the faults' traffic seen first when given."""
    store.add_findings(findings)
    processor = IncidentsProcessor(Context("incidents", store), IncidentsConfig())
    processor.start()
    if faults is not None:
        processor.consume_spans(traffic(faults, T0))
    processor.tick(NOW)
    return list(processor.snapshot()["open"])


@pytest.mark.parametrize(("spans", "incidents"), [(False, 2), (True, 1)])
def test_a_caller_without_its_own_critical_path_joins_through_the_call_graph(
    store: Store, spans: bool, incidents: int
) -> None:
    fault = downstream("pricing", ["checkout"], T0, random.Random(2))
    # the caller's slow requests (the one finding whose critical path shows pricing) missed
    kept = [
        f for f in fault.findings if not (f.service == "checkout" and f.kind == Kind.SLOW_REQUEST)
    ]
    opened = open_incidents(store, kept, [fault] if spans else None)
    assert len(opened) == incidents
    mine = max(opened, key=lambda i: len(i["members"]))
    assert mine["probable_cause"]["service"] == "pricing"
    if spans:
        assert len(mine["members"]) == len(kept)
        assert mine["probable_cause"]["reasoning"]["downstream_of"] == ["checkout"]


def test_a_call_from_a_route_not_in_trouble_joins_nothing(store: Store) -> None:
    faults = [
        release_statement("search", T0, random.Random(4)),
        downstream("pricing", ["checkout"], T0, random.Random(5)),
    ]
    findings = [f for fault in faults for f in fault.findings]
    store.add_findings(findings)
    processor = IncidentsProcessor(Context("incidents", store), IncidentsConfig())
    # search's report page calls pricing, but nothing is wrong with the report page
    processor.consume_spans(traffic(faults, T0, [("search", "GET /report", "pricing")]))
    processor.tick(NOW)
    opened = processor.snapshot()["open"]
    assert sorted(i["probable_cause"]["service"] for i in opened) == ["pricing", "search"]


def test_a_tick_with_nothing_new_does_not_regroup(store: Store) -> None:
    fault = release_statement("search", T0, random.Random(8))
    store.add_findings(fault.findings)
    processor = IncidentsProcessor(Context("incidents", store), IncidentsConfig(refresh=60.0))
    (announced,) = processor.tick(NOW)
    store.add_findings([announced])  # as the pipeline stores it
    assert processor.tick(NOW + NS) == []  # a new row (the incident): regrouped
    assert processor.tick(NOW + 2 * NS) == []
    assert processor.tick(NOW + 30 * NS) == []
    snap = processor.snapshot()
    assert (snap["evaluations"], snap["skipped_ticks"]) == (2, 2)
    processor.tick(NOW + 62 * NS)  # refresh: findings age out with event time
    assert processor.snapshot()["evaluations"] == 3


def test_a_new_member_updates_the_incident(store: Store) -> None:
    fault = release_statement("search", T0, random.Random(9))
    first, late = fault.findings[:-1], fault.findings[-1]
    store.add_findings(first)
    processor = IncidentsProcessor(Context("incidents", store), IncidentsConfig())
    (opened,) = processor.tick(NOW)
    store.add_findings([opened, late])
    (updated,) = processor.tick(NOW + NS)
    assert (updated.subject, updated.state) == (opened.subject, State.UPDATED)
    assert updated.attributes["members"] == len(fault.findings)
    listed = updated.attributes["member_findings"]
    assert isinstance(listed, list)
    assert {"kind": late.kind.value, "severity": late.severity.value} | {
        "service": late.service,
        "subject": late.subject,
    } in listed


def test_a_damaged_saved_document_starts_empty_and_is_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = Store(":memory:")
    edges = {"calls": [["shop", "GET /", "payments", 1]], "services": {"payments": 1}}
    store.save_state("incidents", "incidents", {"first_seen": {"k": "soon"}, "calls": edges}, 1)
    processor = IncidentsProcessor(Context("incidents", store), IncidentsConfig())
    processor.start()
    view = processor.snapshot()
    assert view["state_discarded"] == 1 and view["calls"]["edges"] == 0
    assert "$.first_seen['k']: expected int" in caplog.text
    store.save_state("incidents", "incidents", {"calls": edges}, 2)  # saved before the rest
    again = IncidentsProcessor(Context("incidents", store), IncidentsConfig())
    again.start()
    assert again.snapshot()["calls"]["edges"] == 1 and again.snapshot()["state_discarded"] == 0


def test_the_document_is_written_versioned_and_an_unversioned_one_still_loads() -> None:
    store = Store(":memory:")
    edges = {"calls": [["shop", "GET /", "payments", 1]], "services": {"payments": 1}}
    store.save_state("incidents", "incidents", {"first_seen": {"k": 5}, "calls": edges}, 1)
    processor = IncidentsProcessor(Context("incidents", store), IncidentsConfig())
    processor.start()  # as a build before versions wrote it: the bare record
    assert processor.snapshot()["calls"]["edges"] == 1 and processor.first_seen == {"k": 5}
    decoder = Decoder()
    for body in scenarios.generate(None, traces=20).requests:
        processor.consume_spans(decoder.spans(ExportTraceServiceRequest.FromString(body))[0])
    processor.flush(2)
    written = store.load_state("incidents", "incidents")
    assert written["version"] == 1 and written["state"]["first_seen"] == {"k": 5}
    again = IncidentsProcessor(Context("incidents", store), IncidentsConfig())
    again.start()
    assert again.snapshot()["calls"]["edges"] == processor.snapshot()["calls"]["edges"] > 1
    assert again.snapshot()["state_discarded"] == 0
