"""How much traffic a route or a statement sees, from the span metrics' snapshot: what turns
a regression's change in milliseconds into users' time per minute (``recommend``)."""

from __future__ import annotations

from dataclasses import dataclass

from otel_perf.recommend.rules import Snapshots
from otel_perf.semconv import exit_operation

#: span kinds as span metrics label them: entry operations (SERVER, CONSUMER), calls (CLIENT)
ENTRY_KINDS = frozenset({2, 5, "SERVER", "CONSUMER", "SPAN_KIND_SERVER", "SPAN_KIND_CONSUMER"})
CLIENT_KINDS = frozenset({3, "CLIENT", "SPAN_KIND_CLIENT"})
#: how the regression processor names a statement's series: ``db <system>: <fingerprint>``
STATEMENT_PREFIX = "db "


@dataclass(frozen=True)
class RouteTraffic:
    """An operation's calls per second and median latency, from span metrics."""

    rate_per_s: float
    p50_ms: float
    window_s: float
    p50_source: str = "span metrics"


def _traffic(
    snapshots: Snapshots, service: str, operation: str, kinds: frozenset[object]
) -> RouteTraffic | None:
    """The operation's traffic in the span metrics' API window (all its series summed; the
    median of its busiest), or None when no span-metrics processor saw it."""
    rate, p50, busiest, window = 0.0, None, -1, 0.0
    for snap in snapshots.get("spanmetrics", {}).values():
        for row in snap.get("red", []):
            if (row.get("service"), row.get("operation")) != (service, operation):
                continue
            if row.get("span_kind") not in kinds:
                continue
            rate += float(row.get("rate_per_s") or 0.0)
            window = float(snap.get("window_s") or 0.0)
            if int(row.get("calls") or 0) > busiest and row.get("p50_ms") is not None:
                busiest, p50 = int(row["calls"]), float(row["p50_ms"])
    if p50 is None or rate <= 0:
        return None
    return RouteTraffic(rate, p50, window)


def route_traffic(snapshots: Snapshots, service: str, operation: str) -> RouteTraffic | None:
    """An entry operation's (``GET /search``) requests per second and median."""
    return _traffic(snapshots, service, operation, ENTRY_KINDS)


def statement_traffic(snapshots: Snapshots, service: str, series: str) -> RouteTraffic | None:
    """A statement's executions per second on every route that runs it, from its
    regression series name ``db <system>: <fingerprint>`` (span metrics name the same
    statement ``<system> <fingerprint>``); None for another name or unseen traffic."""
    if not series.startswith(STATEMENT_PREFIX) or ": " not in series:
        return None
    system, statement = series[len(STATEMENT_PREFIX) :].split(": ", 1)
    attributes = {"db.statement": statement}
    if system != "sql":  # the regression processor's name for "no db.system"
        attributes["db.system"] = system
    return _traffic(snapshots, service, exit_operation(attributes, ""), CLIENT_KINDS)
