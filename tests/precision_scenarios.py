"""The shop of ``scenarios`` with decoys, and causes of realistic size that start mid-run.

Decoys (always there, never the answer):

* a staff-only ``GET /api/admin/export`` (2 % of traffic) whose report query always takes
  1-3 s — its total time rivals the cause's;
* 3-4 fast lookups of order notes repeated in ``GET /api/orders/{id}`` (below the N+1
  floor);
* a frequent fast query (the session lookup on every request, ~0.6 ms);
* a sub-ms ``GET /health`` probe (5 % of traces);
* the card processor answering in ~200 ms (an expected, slow-by-design payment call).

Causes, from ``cause_from_ns`` on (history before it is the baseline):

* ``slow_query_10x``: the product lookup on the hottest route (purchases, 45 %) goes from
  ~15 ms to 100-200 ms — 10× its baseline;
* ``small_n_plus_one``: the order list loads each order's items with its own query,
  6-25 calls of ~4 ms.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from scenarios import ASGI, MS, SERVER, Traffic, _server, _Shop, _Span, _Trace, generate

CAUSES = ("slow_query_10x", "small_n_plus_one")
PRODUCTS = "postgresql SELECT p.id, p.price, p.stock FROM products p WHERE p.id IN (?)"
ITEMS_BY_ORDER = "postgresql SELECT sku, quantity, unit_price FROM order_items WHERE order_id = ?"
#: (service, operation) rows of the ranking that name the cause
CAUSE_OPERATIONS: dict[str, set[tuple[str, str]]] = {
    "slow_query_10x": {("checkout", PRODUCTS)},
    "small_n_plus_one": {("checkout", ITEMS_BY_ORDER), ("checkout", "GET /orders")},
}
EXPORT_QUERY = (
    "SELECT o.id, o.total, c.email FROM orders o JOIN customers c ON c.id = o.customer_id "
    "WHERE o.created_at >= '2026-01-01'"
)
#: words that identify each decoy in a finding's subject or attributes
DECOYS = {
    "admin_export": ("/admin/export", "customers c"),
    "repeated_notes": ("order_notes",),
    "frequent_query": ("sessions",),
    "health": ("/health",),
    "payment_call": ("psp", "/v1/charges", "POST /charge"),
}


class DecoyShop(_Shop):
    """The shop with decoys; ``inject`` is one of ``CAUSES`` or None, active from ``since``."""

    WEIGHTS = (45, 30, 25)

    def __init__(self, rng: random.Random, inject: str | None, since: int) -> None:
        super().__init__(rng, inject)
        self.since = since
        self.now = 0

    def trace(self, at: int) -> list[_Span]:
        self.now = at
        roll = self.rng.random()
        if roll < 0.05:
            return self.health(at)
        if roll < 0.07:
            return self.export(at)
        return super().trace(at)

    def active(self, cause: str) -> bool:
        return self.inject == cause and self.now >= self.since

    def health(self, at: int) -> list[_Span]:
        t = _Trace(self.rng)
        root = t.open(None, "frontend", ASGI, "", SERVER, at)
        _server(root, "GET", "/health", "/health", 200, old=False)
        root.end_ns = at + t.ms(0.3)
        return t.spans

    def export(self, at: int) -> list[_Span]:
        t = _Trace(self.rng)
        root = t.open(None, "frontend", ASGI, "", SERVER, at)
        _server(root, "GET", "/api/admin/export", "/api/admin/export", 200, old=False)
        cursor = self.validate(t, root, at + t.ms(0.3))
        cursor = t.http(root, cursor, "GET", "checkout", "/admin/export", self.checkout_export)
        root.end_ns = cursor + t.ms(30)  # streaming the CSV
        return t.spans

    def checkout_export(self, t: _Trace, span: _Span, at: int) -> int:
        _server(span, "GET", "/admin/export", "/admin/export", 200, old=False)
        took = self.rng.randint(1_000, 3_000) * MS
        cursor = t.db(span, at + t.ms(0.5), "SELECT orders", EXPORT_QUERY, "new", took)
        return cursor + t.ms(20)

    def validate(self, t: _Trace, root: _Span, at: int) -> int:
        token = self.rng.randbytes(8).hex()
        statement = f"SELECT user_id, expires FROM sessions WHERE token = '{token}'"
        cursor = t.db(root, at, "SELECT sessions", statement, "new", t.ms(0.6))
        return cursor + t.ms(1)

    def products_ns(self, t: _Trace) -> int:
        if self.active("slow_query_10x"):
            return self.rng.randint(100, 200) * MS
        return t.ms(15)

    def order_items(self, t: _Trace, span: _Span, cursor: int) -> int:
        if not self.active("small_n_plus_one"):
            return super().order_items(t, span, cursor)
        columns = "SELECT sku, quantity, unit_price FROM order_items WHERE order_id"
        for _ in range(self.rng.randint(6, 25)):
            statement = f"{columns} = {self.rng.randrange(100_000, 999_999)}"
            cursor = t.db(span, cursor, "SELECT order_items", statement, "new", t.ms(4))
        return cursor

    def checkout_order(self, t: _Trace, span: _Span, at: int) -> int:
        cursor = super().checkout_order(t, span, at)
        order = self.rng.randrange(100_000, 999_999)
        for n in range(self.rng.randint(3, 4)):  # below the N+1 floor
            statement = f"SELECT body FROM order_notes WHERE order_id = {order} AND n = {n}"
            cursor = t.db(span, cursor, "SELECT order_notes", statement, "new", t.ms(1.5))
        span.end_ns = cursor + t.ms(0.5)
        return span.end_ns

    def psp(self, t: _Trace, span: _Span, at: int) -> int:
        span.attributes = {"http.response.status_code": 200}
        return at + t.ms(200, sigma=0.1)


def generate_precision(
    inject: str | None,
    seed: int,
    start_ns: int,
    duration_s: float,
    cause_from_ns: int,
    rate: float = 10.0,
    late_share: float = 0.03,
) -> Traffic:
    """``duration_s`` of traffic with decoys at ``rate`` traces/s; the cause from
    ``cause_from_ns`` on."""
    if inject is not None and inject not in CAUSES:
        raise ValueError(f"unknown cause {inject!r} (known: {CAUSES})")

    def shop(rng: random.Random, cause: str | None) -> _Shop:
        return DecoyShop(rng, cause, cause_from_ns)

    maker: Callable[[random.Random, str | None], _Shop] = shop
    traces = int(duration_s * rate)
    return generate(inject, traces, start_ns, seed, maker, rate, late_share)
