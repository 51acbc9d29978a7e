"""The shop: FastAPI + SQLAlchemy ORM on SQLite, calling the pricing service over httpx.

Version 1.0 (``SHOP_VERSION``, default ``1.0``) has three planted problems:

- ``GET /orders``: a lazy-load N+1. The page's orders are loaded, then ``order.lines``
  (a default ``lazy="select"`` relationship) runs one query per order; ``order_lines``
  has no index on ``order_id``, so each of those scans the table (a few ms each).
- ``GET /search``: a slow query. ``LIKE '%term%'`` over every product's name and
  description, sorted by price: a full scan no index can help (about 100 ms).
- ``GET /products/{product_id}``: a slow downstream call. The product comes from one
  primary-key lookup, then the pricing service is asked for a quote over httpx and
  takes ``PRICING_DELAY_MS`` (default 150 ms) to answer.

``GET /customers/{customer_id}`` (one primary-key lookup) is healthy, and so is
``GET /health``.

Version 2.0 fixes the N+1 (``selectinload``: one ``IN`` query for every order's lines)
and makes the search slower (the name and the description are lower-cased in the
predicate: a function call on every row, twice; about 2.5 times as long).

Environment: ``SHOP_DB`` (the SQLite file; created with the data set when it does not
exist), ``SHOP_PRODUCTS`` (rows in ``products`` when creating, default 200,000),
``PRICING_URL`` (the pricing service's base URL). Answers carry a W3C ``traceresponse``
header with their trace id. See README.md for running it under
``opentelemetry-instrument``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException
from opentelemetry.instrumentation.propagators import (
    TraceResponsePropagator,
    set_global_response_propagator,
)
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from .models import DEFAULT_PRODUCTS, Customer, Order, Product, create_data, engine_for

VERSION = os.environ.get("SHOP_VERSION", "1.0")
FIXED_N_PLUS_ONE = VERSION != "1.0"
SLOWER_SEARCH = VERSION != "1.0"
PAGE = 25
RESULTS = 20

_state: dict[str, Any] = {}

# every answer names its trace (``traceresponse: 00-<trace id>-<span id>-01``), so a
# client can look a request up in otel-perf's evidence
set_global_response_propagator(TraceResponsePropagator())  # type: ignore[no-untyped-call]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    path = Path(os.environ["SHOP_DB"])
    engine = engine_for(path)
    if not path.exists():
        create_data(engine, int(os.environ.get("SHOP_PRODUCTS", DEFAULT_PRODUCTS)))
    _state["engine"] = engine
    _state["pricing"] = httpx.Client(base_url=os.environ["PRICING_URL"], timeout=10.0)
    try:
        yield
    finally:
        _state["pricing"].close()
        engine.dispose()


app = FastAPI(title="shop", version=VERSION, lifespan=lifespan)


def session() -> Session:
    return Session(_state["engine"])


@app.get("/orders")
def list_orders(page: int = 0) -> list[dict[str, Any]]:
    """The latest orders with their lines."""
    query = select(Order).order_by(Order.id.desc()).offset(page * PAGE).limit(PAGE)
    if FIXED_N_PLUS_ONE:
        query = query.options(selectinload(Order.lines))
    with session() as db:
        return [
            {
                "id": order.id,
                "customer": order.customer_id,
                "lines": [
                    {"product": line.product_id, "quantity": line.quantity} for line in order.lines
                ],
            }
            for order in db.scalars(query)
        ]


@app.get("/search")
def search(q: str) -> list[dict[str, Any]]:
    """Products whose name or description contains ``q``, dearest first."""
    pattern = f"%{q.lower()}%"
    if SLOWER_SEARCH:
        predicate = or_(
            func.lower(Product.name).like(pattern), func.lower(Product.description).like(pattern)
        )
    else:
        predicate = or_(Product.name.like(pattern), Product.description.like(pattern))
    query = select(Product).where(predicate).order_by(Product.price_cents.desc()).limit(RESULTS)
    with session() as db:
        return [
            {"id": p.id, "name": p.name, "price_cents": p.price_cents} for p in db.scalars(query)
        ]


@app.get("/products/{product_id}")
def product(product_id: int) -> dict[str, Any]:
    """One product with its current price from the pricing service."""
    with session() as db:
        found = db.get(Product, product_id)
        if found is None:
            raise HTTPException(404, "no such product")
        item = {"id": found.id, "name": found.name, "list_price_cents": found.price_cents}
    quote = _state["pricing"].post(
        "/quote", json={"product_id": product_id, "list_price_cents": item["list_price_cents"]}
    )
    quote.raise_for_status()
    return {**item, "price_cents": quote.json()["price_cents"]}


@app.get("/customers/{customer_id}")
def customer(customer_id: int) -> dict[str, Any]:
    with session() as db:
        found = db.get(Customer, customer_id)
        if found is None:
            raise HTTPException(404, "no such customer")
        return {"id": found.id, "name": found.name}


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok", "version": VERSION}
