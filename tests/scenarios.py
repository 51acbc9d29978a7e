"""Deterministic multi-service OTLP traffic from a small shop, with one injected cause.

``frontend`` serves three routes and calls ``checkout`` over HTTP; ``checkout`` reads
redis and postgres and, for a purchase, calls ``payments`` over HTTP; ``payments`` calls
its card processor and writes to postgres. Latencies are lognormal. Each service reports
its finished spans like an SDK's BatchSpanProcessor: one request per batch, so a request
holds spans of several traces and one trace is spread over several requests (every
service reports its own part, and a batch boundary can fall inside a service's part).
Instrumentations differ in age: ``payments`` and the frontend's redis client use the old
semantic conventions (``http.method``, ``db.system`` / ``db.statement``), the rest the
stable ones (``http.request.method``, ``db.system.name`` / ``db.query.text``), and
``checkout``'s order lookups emit both (``OTEL_SEMCONV_STABILITY_OPT_IN=database/dup``).

    traffic = generate("slow_query", traces=300)
    traffic.requests      # serialised ExportTraceServiceRequest bytes, in send order
    EXPECTED["slow_query"].cause  # ("checkout", "SELECT products")

``inject`` picks one cause: None (clean), ``slow_query`` (the product lookup takes
600-900 ms), ``n_plus_one`` (``GET /orders`` reads each order's items with its own
query, 12 in a row), ``slow_downstream`` (payments' handler takes 800 ms) or
``cpu_handler`` (checkout's purchase handler computes for 700 ms between its calls).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from otlp_builders import BASE_NS, kv

MS = 1_000_000
S = 1_000_000_000
SERVER, CLIENT = 2, 3
INJECTIONS = (None, "slow_query", "n_plus_one", "slow_downstream", "cpu_handler")
OpKey = tuple[str, str]

PRODUCTS_FINGERPRINT = "SELECT p.id, p.price, p.stock FROM products p WHERE p.id IN (?)"
ITEMS_BY_ORDER_FINGERPRINT = "SELECT sku, quantity, unit_price FROM order_items WHERE order_id = ?"
N_PLUS_ONE_CALLS = 12


@dataclass(frozen=True)
class Expected:
    """What analysis should conclude from one injection.

    Attributes:
        cause: the (service, operation) a person should fix.
        ranked_first: the operation with the most critical-path time. For an N+1 it is
            the repeated query, not the loop that issues it.
        fingerprint: the query fingerprint involved, if any.
    """

    cause: OpKey | None
    ranked_first: OpKey | None
    fingerprint: str | None = None


PRODUCTS_OPERATION = f"postgresql {PRODUCTS_FINGERPRINT}"  # calls are named by their target
ITEMS_BY_ORDER_OPERATION = f"postgresql {ITEMS_BY_ORDER_FINGERPRINT}"
EXPECTED: dict[str | None, Expected] = {
    None: Expected(None, None),
    "slow_query": Expected(
        ("checkout", PRODUCTS_OPERATION), ("checkout", PRODUCTS_OPERATION), PRODUCTS_FINGERPRINT
    ),
    "n_plus_one": Expected(
        ("checkout", "GET /orders"),
        ("checkout", ITEMS_BY_ORDER_OPERATION),
        ITEMS_BY_ORDER_FINGERPRINT,
    ),
    "slow_downstream": Expected(("payments", "POST /charge"), ("payments", "POST /charge")),
    "cpu_handler": Expected(("checkout", "POST /checkout"), ("checkout", "POST /checkout")),
}

RESOURCES: dict[str, dict[str, Any]] = {
    name: {
        "service.name": name,
        "service.version": version,
        "service.instance.id": f"{name}-{instance}",
        "host.name": f"node-{instance}",
        "deployment.environment.name": "production",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.version": "1.27.0",
    }
    for name, version, instance in (
        ("frontend", "2.14.0", "7f9c"),
        ("checkout", "1.8.3", "a01d"),
        ("payments", "0.9.12", "c3e2"),
    )
}
ASGI = "opentelemetry.instrumentation.asgi"
HTTPX = "opentelemetry.instrumentation.httpx"
PSYCOPG = "opentelemetry.instrumentation.psycopg"
REDIS = "opentelemetry.instrumentation.redis"
FLASK = "opentelemetry.instrumentation.flask"
REQUESTS = "opentelemetry.instrumentation.requests"


@dataclass
class Traffic:
    """Generated traffic: what to send and what it holds."""

    requests: list[bytes]
    send_ns: list[int]  # when each request is sent (event time)
    span_counts: list[int]  # spans in each request
    traces: int
    spans: int
    start_ns: int
    end_ns: int
    expected: Expected


def requests(
    inject: str | None = None, traces: int = 300, start_ns: int = BASE_NS, seed: int = 7
) -> list[bytes]:
    """Serialised ExportTraceServiceRequests, in the order the services would send them."""
    return generate(inject, traces, start_ns, seed).requests


def generate(
    inject: str | None = None,
    traces: int = 300,
    start_ns: int = BASE_NS,
    seed: int = 7,
    shop: Callable[[random.Random, str | None], _Shop] | None = None,
    rate: float = 25.0,
    late_share: float = 0.0,
) -> Traffic:
    """``traces`` traces arriving at about ``rate`` per second from ``start_ns``, batched per
    service; ``late_share`` of the exports are retried 3-12 s later (late spans).

    The same arguments give the same bytes. ``shop`` builds the handlers (the plain shop
    by default; ``precision_scenarios`` adds decoys).
    """
    if shop is None and inject not in INJECTIONS:
        raise ValueError(f"unknown injection {inject!r} (known: {INJECTIONS})")
    rng = random.Random(f"{seed}:{inject}")
    handlers = (shop or _Shop)(rng, inject)
    spans: list[_Span] = []
    at = start_ns
    for _ in range(traces):
        at += int(rng.expovariate(rate) * S)
        spans += handlers.trace(at)
    batches = _delay(_batch(spans, rng), rng, late_share)
    return Traffic(
        requests=[_request(service, batch).SerializeToString() for _, service, batch in batches],
        send_ns=[sent for sent, _, _ in batches],
        span_counts=[len(batch) for _, _, batch in batches],
        traces=traces,
        spans=len(spans),
        start_ns=start_ns,
        end_ns=max(s.end_ns for s in spans),
        expected=EXPECTED.get(inject, EXPECTED[None]),
    )


# -- one trace ----------------------------------------------------------------------


@dataclass
class _Span:
    service: str
    scope: str
    name: str
    kind: int
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes
    start_ns: int
    end_ns: int = 0
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[int, str]] = field(default_factory=list)


Handler = Callable[["_Trace", "_Span", int], int]
"""Runs a server span's work from a start time; returns when its response is sent."""


class _Trace:
    """Spans of one trace, written as the code would run: calls one after another."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.trace_id = rng.randbytes(16)
        self.spans: list[_Span] = []

    def ms(self, median_ms: float, sigma: float = 0.35) -> int:
        """A lognormal duration with ``median_ms``."""
        return int(self.rng.lognormvariate(math.log(median_ms), sigma) * MS)

    def open(
        self, parent: _Span | None, service: str, scope: str, name: str, kind: int, start_ns: int
    ) -> _Span:
        parent_id = b"" if parent is None else parent.span_id
        span_id = self.rng.randbytes(8)
        span = _Span(service, scope, name, kind, self.trace_id, span_id, parent_id, start_ns)
        self.spans.append(span)
        return span

    def db(
        self,
        parent: _Span,
        at: int,
        name: str,
        statement: str,
        style: str,
        duration_ns: int,
        system: str = "postgresql",
    ) -> int:
        """A database call from ``parent``'s service; returns when the caller goes on."""
        start = at + self.ms(0.05)
        scope = REDIS if system == "redis" else PSYCOPG
        span = self.open(parent, parent.service, scope, name, CLIENT, start)
        span.end_ns = start + duration_ns
        span.attributes = _db_attributes(system, statement, name, style)
        return span.end_ns + self.ms(0.03)

    def http(
        self, parent: _Span, at: int, method: str, peer: str, path: str, handler: Handler
    ) -> int:
        """An HTTP call to ``peer`` served by ``handler``; returns when the caller goes on."""
        scope = REQUESTS if parent.service == "checkout" else HTTPX
        client = self.open(parent, parent.service, scope, method, CLIENT, at + self.ms(0.1))
        server_start = client.start_ns + self.ms(0.6)
        server = self.open(client, peer, FLASK if peer == "payments" else ASGI, "", SERVER, 0)
        server.start_ns = server_start
        server.end_ns = handler(self, server, server_start)
        if peer not in RESOURCES:  # outside the shop: its spans are never reported here
            self.spans.remove(server)
        client.end_ns = server.end_ns + self.ms(0.6)
        status = server.attributes.get("http.response.status_code") or server.attributes.get(
            "http.status_code"
        )
        client.attributes = {
            "http.request.method": method,
            "server.address": peer,
            "server.port": 8080,
            "url.full": f"http://{peer}:8080{path}",
            "http.response.status_code": status or 200,
            "network.protocol.version": "1.1",
        }
        return client.end_ns + self.ms(0.05)


def _db_attributes(system: str, statement: str, name: str, style: str) -> dict[str, Any]:
    operation, _, collection = name.partition(" ")
    new: dict[str, Any] = {
        "db.system.name": system,
        "db.query.text": statement,
        "db.operation.name": operation,
        "server.address": f"{system}.internal",
        "server.port": 6379 if system == "redis" else 5432,
    }
    if collection:
        new["db.collection.name"] = collection
    old: dict[str, Any] = {
        "db.system": system,
        "db.statement": statement,
        "net.peer.name": f"{system}.internal",
        "net.peer.port": 6379 if system == "redis" else 5432,
    }
    if system != "redis":
        old["db.name"] = "shop"
    return {"new": new, "old": old, "dup": {**old, **new}}[style]


def _server(span: _Span, method: str, route: str, path: str, status: int, old: bool) -> None:
    span.name = f"{method} {route}"
    if old:  # an older Flask instrumentation
        span.attributes = {
            "http.method": method,
            "http.route": route,
            "http.target": path,
            "http.scheme": "http",
            "http.status_code": status,
            "net.host.name": span.service,
        }
    else:
        span.attributes = {
            "http.request.method": method,
            "http.route": route,
            "url.path": path,
            "url.scheme": "http",
            "http.response.status_code": status,
            "server.address": span.service,
        }


# -- the shop -------------------------------------------------------------------------


class _Shop:
    """The services' handlers; ``inject`` changes exactly one of them."""

    def __init__(self, rng: random.Random, inject: str | None) -> None:
        self.rng = rng
        self.inject = inject

    WEIGHTS = (35, 35, 30)  # purchase, order list, one order

    def trace(self, at: int) -> list[_Span]:
        t = _Trace(self.rng)
        routes: list[tuple[str, str, str, Handler]] = [
            ("POST", "/api/checkout", "/checkout", self.checkout_purchase),
            ("GET", "/api/orders", "/orders", self.checkout_orders),
            ("GET", "/api/orders/{id}", "/orders/{order_id}", self.checkout_order),
        ]
        method, route, downstream, handler = self.rng.choices(routes, weights=self.WEIGHTS)[0]
        order = self.rng.randrange(10_000, 99_999)
        root = t.open(None, "frontend", ASGI, "", SERVER, at)
        path = route.replace("{id}", str(order))
        _server(root, method, route, path, 200, old=False)
        cursor = t.db(root, at + t.ms(0.3), "GET", "GET ?", "old", t.ms(0.4), "redis")
        cursor = self.validate(t, root, cursor)
        downstream_path = downstream.replace("{order_id}", str(order))
        cursor = t.http(root, cursor, method, "checkout", downstream_path, handler)
        root.end_ns = cursor + t.ms(4)  # rendering the response
        return t.spans

    def validate(self, t: _Trace, root: _Span, at: int) -> int:
        """Session and request validation in the frontend."""
        return at + t.ms(2)

    def products_ns(self, t: _Trace) -> int:
        """How long the product lookup of a purchase takes."""
        return self.rng.randint(600, 900) * MS if self.inject == "slow_query" else t.ms(4)

    # checkout ---------------------------------------------------------------------
    def checkout_purchase(self, t: _Trace, span: _Span, at: int) -> int:
        _server(span, "POST", "/checkout", "/checkout", 201, old=False)
        cursor = t.db(span, at + t.ms(0.5), "HGETALL", "HGETALL ?", "new", t.ms(0.5), "redis")
        span.events.append((cursor, "cart_loaded"))
        skus = [self.rng.randrange(1, 5000) for _ in range(self.rng.randint(1, 6))]
        statement = (
            "SELECT p.id, p.price, p.stock FROM products p "
            f"WHERE p.id IN ({', '.join(map(str, skus))})"
        )
        cursor = t.db(span, cursor, "SELECT products", statement, "new", self.products_ns(t))
        cpu = self.rng.randint(690, 710) * MS if self.inject == "cpu_handler" else t.ms(3)
        cursor += cpu  # pricing, tax and discounts
        span.events.append((cursor, "priced"))
        cursor = t.http(span, cursor, "POST", "payments", "/charge", self.payments_charge)
        span.events.append((cursor, "paid"))
        order = self.rng.randrange(100_000, 999_999)
        insert = f"INSERT INTO orders (id, user_id, total) VALUES ({order}, 42, 99.5)"
        cursor = t.db(span, cursor, "INSERT orders", insert, "new", t.ms(3))
        rows = ", ".join(f"({order}, {sku}, 1)" for sku in skus)
        items = f"INSERT INTO order_items (order_id, sku, quantity) VALUES {rows}"
        cursor = t.db(span, cursor, "INSERT order_items", items, "new", t.ms(3))
        cursor = t.db(span, cursor, "DEL", "DEL ?", "new", t.ms(0.4), "redis")
        return cursor + t.ms(0.8)

    def checkout_orders(self, t: _Trace, span: _Span, at: int) -> int:
        _server(span, "GET", "/orders", "/orders", 200, old=False)
        user = self.rng.randrange(1, 100_000)
        statement = (
            "SELECT id, status, total FROM orders "
            f"WHERE user_id = {user} ORDER BY created_at DESC LIMIT {N_PLUS_ONE_CALLS}"
        )
        cursor = t.db(span, at + t.ms(0.5), "SELECT orders", statement, "new", t.ms(5))
        cursor = self.order_items(t, span, cursor)
        return cursor + t.ms(2)

    def order_items(self, t: _Trace, span: _Span, cursor: int) -> int:
        """The items of a user's orders: one query, or one per order (the N+1)."""
        orders = [self.rng.randrange(100_000, 999_999) for _ in range(N_PLUS_ONE_CALLS)]
        columns = "SELECT sku, quantity, unit_price FROM order_items WHERE order_id"
        if self.inject == "n_plus_one":  # the ORM loads each order's items lazily
            for order in orders:
                statement = f"{columns} = {order}"
                cursor = t.db(span, cursor, "SELECT order_items", statement, "new", t.ms(6))
        else:
            statement = f"{columns} IN ({', '.join(map(str, orders))})"
            cursor = t.db(span, cursor, "SELECT order_items", statement, "new", t.ms(8))
        return cursor

    def checkout_order(self, t: _Trace, span: _Span, at: int) -> int:
        order = self.rng.randrange(100_000, 999_999)
        _server(span, "GET", "/orders/{order_id}", f"/orders/{order}", 200, old=False)
        cursor = t.db(span, at + t.ms(0.5), "GET", "GET ?", "dup", t.ms(0.4), "redis")
        if self.rng.random() < 0.6:  # cache hit
            return cursor + t.ms(1)
        statement = f"SELECT id, status, total FROM orders WHERE id = {order}"
        cursor = t.db(span, cursor, "SELECT orders", statement, "dup", t.ms(3))
        statement = f"SELECT sku, quantity, unit_price FROM order_items WHERE order_id = {order}"
        cursor = t.db(span, cursor, "SELECT order_items", statement, "dup", t.ms(3))
        cursor = t.db(span, cursor, "SETEX", "SETEX ? ? ?", "dup", t.ms(0.4), "redis")
        return cursor + t.ms(1.5)

    # payments ---------------------------------------------------------------------
    def payments_charge(self, t: _Trace, span: _Span, at: int) -> int:
        declined = self.rng.random() < 0.03
        _server(span, "POST", "/charge", "/charge", 402 if declined else 200, old=True)
        customer = self.rng.randrange(1, 100_000)
        statement = f"SELECT id, token FROM payment_methods WHERE customer_id = {customer}"
        cursor = t.db(span, at + t.ms(0.4), "SELECT payment_methods", statement, "old", t.ms(3))
        if self.inject == "slow_downstream":  # a fraud check that is not instrumented
            cursor += self.rng.randint(790, 810) * MS
        cursor = t.http(span, cursor, "POST", "psp", "/v1/charges", self.psp)
        if not declined:
            charge = self.rng.randrange(1, 10**9)
            insert = f"INSERT INTO charges (id, customer_id, amount) VALUES ({charge}, 1, 99.5)"
            cursor = t.db(span, cursor, "INSERT charges", insert, "old", t.ms(3))
        return cursor + t.ms(1)

    def psp(self, t: _Trace, span: _Span, at: int) -> int:
        """The card processor (outside the shop)."""
        span.attributes = {"http.response.status_code": 200}
        return at + t.ms(35, sigma=0.5)


def _delay(
    batches: list[tuple[int, str, list[_Span]]], rng: random.Random, share: float
) -> list[tuple[int, str, list[_Span]]]:
    """``share`` of the exports retried 3-12 s later, as after a failed attempt."""
    if share <= 0:
        return batches
    out = [
        (sent + (rng.randint(3, 12) * S if rng.random() < share else 0), svc, b)
        for sent, svc, b in batches
    ]
    return sorted(out, key=lambda b: (b[0], b[1]))


# -- reporting like a BatchSpanProcessor ----------------------------------------------

SCHEDULE_DELAY_NS = 1 * S
MAX_EXPORT_BATCH = 128


def _batch(spans: list[_Span], rng: random.Random) -> list[tuple[int, str, list[_Span]]]:
    """(send time, service, spans) per export, sorted by send time.

    Per service, spans queue as they end; the exporter sends a full batch at once and
    whatever is queued every ``SCHEDULE_DELAY_NS`` (each process on its own phase).
    """
    out: list[tuple[int, str, list[_Span]]] = []
    for service in RESOURCES:
        ended = sorted((s for s in spans if s.service == service), key=lambda s: s.end_ns)
        phase = rng.randrange(SCHEDULE_DELAY_NS)
        queued: list[_Span] = []
        deadline: int | None = None
        for span in ended:
            if deadline is not None and span.end_ns >= deadline:
                if queued:
                    out.append((deadline, service, queued))
                    queued = []
                deadline = None
            if deadline is None:  # the next timer tick after this span ended
                deadline = (
                    span.end_ns + SCHEDULE_DELAY_NS - (span.end_ns - phase) % SCHEDULE_DELAY_NS
                )
            queued.append(span)
            if len(queued) == MAX_EXPORT_BATCH:
                out.append((span.end_ns, service, queued))
                queued = []
        if queued and deadline is not None:
            out.append((deadline, service, queued))
    return sorted(out, key=lambda b: (b[0], b[1]))


def _request(service: str, spans: list[_Span]) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(kv(k, v) for k, v in RESOURCES[service].items())
    scopes: dict[str, Any] = {}
    for span in spans:
        scope = scopes.get(span.scope)
        if scope is None:
            scope = scopes[span.scope] = resource_spans.scope_spans.add()
            scope.scope.name = span.scope
            scope.scope.version = "0.48b0"
        message = scope.spans.add()
        message.trace_id = span.trace_id
        message.span_id = span.span_id
        message.parent_span_id = span.parent_span_id
        message.name = span.name
        message.kind = span.kind
        message.start_time_unix_nano = span.start_ns
        message.end_time_unix_nano = span.end_ns
        message.attributes.extend(kv(k, v) for k, v in span.attributes.items())
        for time_ns, name in span.events:
            event = message.events.add()
            event.time_unix_nano = time_ns
            event.name = name
    return request
