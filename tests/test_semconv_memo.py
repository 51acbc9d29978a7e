"""The remembered exit naming gives exactly what naming each span afresh gives."""

from __future__ import annotations

import random

from otel_perf.decode import SPAN_ATTRIBUTE_KEYS
from otel_perf.model import AttrValue
from otel_perf.semconv import EXIT_OPERATION_KEYS, exit_operation, exit_operation_memo

# every key a span may carry (decoded or not), so one the memo ignores but the naming
# reads would show up as two spans that differ only there and get one name
KEYS = sorted(SPAN_ATTRIBUTE_KEYS | set(EXIT_OPERATION_KEYS) | {"url.full", "http.url"})
VALUES: list[AttrValue] = [
    "",
    "GET",
    "post",
    "postgresql",
    "SELECT * FROM users WHERE id = 42",
    "select 1",
    "/items/123?x=1",
    "/items/{id}",
    "https://user:pw@api.example:8443/orders/9?q=1",
    "pricing",
    "GET /quote/77",
    8080,
    8080.0,
    True,
    0,
    b"raw",
]
NAMES = ["GET", "GET /quote/77", "SELECT users", "postgresql query", "send"]


def test_memo_agrees_with_fresh_naming_on_random_spans() -> None:
    rng = random.Random(18)
    for _ in range(20_000):
        attrs = {key: rng.choice(VALUES) for key in rng.sample(KEYS, rng.randrange(0, 9))}
        name = rng.choice(NAMES)
        assert exit_operation_memo(attrs, name) == exit_operation(attrs, name), (attrs, name)


def test_port_types_that_hash_alike_are_named_apart() -> None:
    base = {"http.request.method": "GET", "http.route": "/q", "server.address": "pricing"}
    names = [exit_operation_memo({**base, "server.port": port}, "GET") for port in (8080, 8080.0)]
    assert names == ["GET pricing:8080/q", "GET pricing/q"]
    assert exit_operation_memo({**base, "server.port": True}, "GET") == "GET pricing/q"
    assert exit_operation_memo({**base, "server.port": 1}, "GET") == "GET pricing:1/q"


def test_unhashable_values_are_named_without_the_memo() -> None:
    attrs: dict[str, AttrValue] = {"db.system": "redis", "db.statement": ["GET", "k"]}
    assert exit_operation_memo(attrs, "GET") == exit_operation(attrs, "GET") == "redis GET"
