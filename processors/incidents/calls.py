"""Which services each route calls, learned from spans: the call graph an upstream finding
joins its downstream's incident by when its own critical path was not reported.

A client span names its peer (``server.address``, ``net.peer.name`` or ``peer.service``);
the peer is a service when a server span of that ``service.name`` has been seen (the peer
``payments`` or ``payments.shop.svc.cluster.local`` is the service ``payments``). The
calling route is the client span's local entry (its top ancestor in the batch, when that
is a server span), else the call counts for the service as a whole (route ``""``).

Per batch the work is on columns: the distinct (service, entry, peer) triples of client
spans, then one dictionary update per triple. Bounded: at most ``max_calls`` edges and as
many known services; edges past it are counted in ``overflowed``; an edge not seen within
``lookback`` is forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from otel_perf.columns import NONE
from otel_perf.facts import group_rows
from otel_perf.model import SpanBatch, SpanKind
from otel_perf.semconv import route_of

#: ancestors followed inside one batch to find a client span's entry
MAX_DEPTH = 64
Call = tuple[str, str]  # the caller's route ("" for any), the peer it names


class CallGraph:
    """Caller (service, route) → peers, and the services seen serving (see module doc)."""

    def __init__(self, max_calls: int) -> None:
        self.max_calls = max_calls
        self.calls: dict[str, dict[Call, int]] = {}  # caller service -> call -> last seen
        self.services: dict[str, int] = {}  # service seen serving -> last seen
        self.edges = 0
        self.version = 0  # bumped when an edge or a service is new: the grouping may change
        self.overflowed = 0

    def learn(self, batch: SpanBatch) -> None:
        """Take the calls and servers of one batch."""
        if not len(batch):
            return
        cols = batch.columns()
        server = cols.kind == SpanKind.SERVER
        newest = int(cols.end_ns.max())
        for sid in np.unique(cols.service[server]).tolist():
            name = cols.strings[sid]
            if name in self.services or len(self.services) < self.max_calls:
                self.version += name not in self.services
                self.services[name] = max(newest, self.services.get(name, 0))
            else:
                self.overflowed += 1
        client = np.flatnonzero((cols.kind == SpanKind.CLIENT) & (cols.peer >= 0))
        if not len(client):
            return
        top = top_rows(cols.parent)[client]
        entry = np.where(cols.kind[top] == SpanKind.SERVER, top, -1)
        entered = entry >= 0
        # one representative row per (service, peer, entry name and route): few per batch
        first = _firsts(
            [
                cols.service[client],
                cols.peer[client],
                np.where(entered, cols.name[entry], NONE),
                np.where(entered, cols.route[entry], NONE),
            ],
            len(cols.strings),
        )
        end = int(cols.end_ns[client].max())
        chosen = client[first]
        rows = entry[first]
        operations = cols.operations(batch.spans)  # shared: an entry span's is its route
        names, strings = operations.names, cols.strings
        routes = np.where(rows >= 0, operations.ids[rows], -1).tolist()
        for caller, peer, row, route_id in zip(
            cols.service[chosen].tolist(),
            cols.peer[chosen].tolist(),
            rows.tolist(),
            routes,
            strict=True,
        ):
            route = "" if row < 0 else names[route_id] or _route(batch, row)
            known, call = self.calls.get(strings[caller]), (route, strings[peer])
            if known is not None and call in known:  # most calls are known: seen again
                known[call] = max(end, known[call])
            else:
                self.add(strings[caller], *call, end)

    def add(self, caller: str, route: str, peer: str, seen_ns: int) -> None:
        """One call from ``caller``'s ``route`` to ``peer`` seen at ``seen_ns``."""
        calls = self.calls.setdefault(caller, {})
        if (route, peer) not in calls:
            if self.edges >= self.max_calls:
                self.overflowed += 1
                return
            self.edges += 1
            self.version += 1
        calls[(route, peer)] = max(seen_ns, calls.get((route, peer), 0))

    def callees(self, service: str, routes: frozenset[str]) -> frozenset[str]:
        """The services ``service`` calls from ``routes``. Only calls whose route is known
        count: a service's other routes may call services that explain nothing here."""
        out = set()
        for route, peer in self.calls.get(service, ()):
            if route and route in routes:
                callee = self.service_of(peer)
                if callee is not None and callee != service:
                    out.add(callee)
        return frozenset(out)

    def service_of(self, peer: str) -> str | None:
        """The known service a peer address names, if any (``payments``,
        ``payments.shop.svc.cluster.local``, ``payments:8080``)."""
        if peer in self.services:
            return peer
        host, _, port = peer.rpartition(":")
        host = host if host and port.isdigit() else peer
        head = host.split(".", 1)[0]
        return head if head in self.services else None

    def expire(self, before_ns: int) -> None:
        """Forget edges and services not seen since ``before_ns``."""
        self.services = {k: seen for k, seen in self.services.items() if seen >= before_ns}
        for caller, calls in list(self.calls.items()):
            kept = {call: seen for call, seen in calls.items() if seen >= before_ns}
            self.edges -= len(calls) - len(kept)
            if kept:
                self.calls[caller] = kept
            else:
                del self.calls[caller]

    # -- state ----------------------------------------------------------------
    def saved(self) -> SavedCalls:
        """The graph as its state record: one ``(caller, route, peer, last seen)`` per edge."""
        return SavedCalls(
            [
                (caller, route, peer, seen)
                for caller, calls in self.calls.items()
                for (route, peer), seen in calls.items()
            ],
            dict(self.services),
        )

    def restore(self, saved: SavedCalls) -> None:
        """Take back what :meth:`saved` held, within this graph's bounds."""
        for caller, route, peer, seen in saved.calls:
            self.add(caller, route, peer, seen)
        for name, seen in list(saved.services.items())[: self.max_calls]:
            self.services[name] = seen


@dataclass
class SavedCalls:
    """The call graph as saved: its edges as rows, and each service's last serving time."""

    calls: list[tuple[str, str, str, int]] = field(default_factory=list)
    services: dict[str, int] = field(default_factory=dict)


def _route(batch: SpanBatch, row: int) -> str:
    span = batch.spans[row]
    return route_of(span.attributes, span.name)


def top_rows(parent: NDArray[np.int32]) -> NDArray[np.intp]:
    """Each row's top ancestor in the batch: its parent's parent and so on, at most
    ``MAX_DEPTH`` steps up (rows without a parent in the batch are their own top). The
    steps double each round: six rounds of ``up[up]`` make 64."""
    rows = np.arange(len(parent))
    up = np.where(parent >= 0, parent, rows)
    for _ in range(MAX_DEPTH.bit_length() - 1):
        further = up[up]
        if (further == up).all():
            break
        up = further
    return up


def _firsts(parts: list[NDArray[np.int32]], strings: int) -> NDArray[np.intp]:
    """The first row of each distinct combination of ``parts`` (string ids, or -1), in
    batch order: the ids packed into one int64 when they fit, else :func:`group_rows`."""
    size = strings + 1
    if size ** len(parts) >= 1 << 62:
        return group_rows(parts)[0].astype(np.intp)
    key = np.zeros(len(parts[0]), np.int64)
    for part in parts:
        key = key * size + (part + 1)
    _, first = np.unique(key, return_index=True)
    first.sort()
    return first
