"""What a finding is about, read from the attributes the processors write."""

from __future__ import annotations

from benchmarks._incident_faults import NS, anomaly, regression, slow_query
from otel_perf.processors.incidents.facts import ROUTE, STATEMENT, facts_of

T = 1_800_000_000 * NS


def test_an_anomaly_series_names_its_route_braces_and_all() -> None:
    facts = facts_of(anomaly("pricing", "GET /quote/{id}", T, T - 5 * NS))
    assert facts is not None
    assert facts.routes == frozenset({"GET /quote/{id}"})
    assert facts.start_ns == T - 5 * NS and facts.layer == ROUTE


def test_a_regression_is_about_a_route_or_a_statement_by_its_operation() -> None:
    route = facts_of(regression("search", "GET /search", T, "1.0", "2.0"))
    statement = facts_of(regression("search", "postgresql SELECT 1", T, "1.0", "2.0"))
    assert route is not None and statement is not None
    assert (route.layer, route.routes, route.release) == (ROUTE, {"GET /search"}, ("1.0", "2.0"))
    assert (statement.layer, statement.statement) == (STATEMENT, "postgresql SELECT 1")


def test_a_slow_query_runs_under_the_routes_of_its_own_service_only() -> None:
    found = slow_query("checkout", "POST /checkout", "SELECT 1", T)
    other = found.model_copy(
        update={"attributes": {**found.attributes, "routes": [{"service": "web", "route": "/"}]}}
    )
    mine, theirs = facts_of(found), facts_of(other)
    assert mine is not None and theirs is not None
    assert mine.routes == {"POST /checkout"} and theirs.routes == frozenset()
