"""The shop's tables (SQLAlchemy ORM on SQLite) and a deterministic data set."""

from __future__ import annotations

import random
from pathlib import Path

from sqlalchemy import ForeignKey, String, create_engine, insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

CUSTOMERS = 200
ORDERS = 5_000  # 150,000 order lines: each unindexed lazy load scans them (a few ms at idle)
LINES_PER_ORDER = 30
DEFAULT_PRODUCTS = 200_000
TEXTS = 1_000
WORDS = (
    "oak maple walnut steel brass linen wool cotton amber slate ivory cobalt "
    "lamp chair table shelf rug vase clock mirror kettle basket stool desk"
).split()


class Base(DeclarativeBase):
    pass


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(400))
    price_cents: Mapped[int]


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    # lazy="select" (the default): touching order.lines runs one query per order
    lines: Mapped[list[OrderLine]] = relationship(back_populates="order")


class OrderLine(Base):
    __tablename__ = "order_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    # no index on order_id, as often happens: each lazy load scans the table (a few ms)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    product_id: Mapped[int]
    quantity: Mapped[int]
    order: Mapped[Order] = relationship(back_populates="lines")


def engine_for(path: Path) -> Engine:
    """An engine on the SQLite file (one connection per thread, as the pool hands out)."""
    return create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})


def create_data(engine: Engine, products: int, seed: int = 15) -> None:
    """Create the tables and fill them with a seeded data set."""
    rng = random.Random(seed)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    # a pool of texts reused across rows keeps creation fast (a few seconds for 200,000)
    names = [" ".join(rng.choices(WORDS, k=3)) for _ in range(TEXTS)]
    descriptions = [" ".join(rng.choices(WORDS, k=40)) for _ in range(TEXTS)]

    with engine.begin() as connection:
        connection.execute(
            insert(Customer), [{"id": i, "name": f"customer {i}"} for i in range(1, CUSTOMERS + 1)]
        )
        connection.execute(
            insert(Product),
            [
                {
                    "id": i,
                    "name": f"{names[i % TEXTS]} {i}",
                    "description": descriptions[(i * 7919) % TEXTS],
                    "price_cents": rng.randrange(100, 100_000),
                }
                for i in range(1, products + 1)
            ],
        )
        connection.execute(
            insert(Order),
            [
                {"id": i, "customer_id": rng.randrange(1, CUSTOMERS + 1)}
                for i in range(1, ORDERS + 1)
            ],
        )
        connection.execute(
            insert(OrderLine),
            [
                {
                    "order_id": order,
                    "product_id": rng.randrange(1, products + 1),
                    "quantity": rng.randrange(1, 5),
                }
                for order in range(1, ORDERS + 1)
                for _ in range(LINES_PER_ORDER)
            ],
        )
