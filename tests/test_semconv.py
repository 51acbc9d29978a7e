"""The shared semantic-convention helpers: what a span stands for, the same everywhere."""

from __future__ import annotations

import doctest
from typing import Any

from trace_builder import db, http_client, span

from otel_perf import semconv
from otel_perf.model import SpanKind, StatusCode
from otel_perf.semconv import (
    MAX_OPERATION_CHARS,
    is_entry,
    is_error,
    is_exit,
    is_framework_internal,
    operation,
    route_of,
    template_name,
)


def server(name: str, status: int = 200, **attrs: Any) -> Any:
    attrs = {"http.request.method": "GET", "http.response.status_code": status, **attrs}
    return span("s", None, 0, 1, name=name, kind=SpanKind.SERVER, attrs=attrs)


def test_entries_are_named_by_route_and_unmatched_404s_share_one_operation() -> None:
    assert operation(server("GET /items/{id}", **{"http.route": "/items/{id}"})) == (
        "GET /items/{id}"
    )
    assert operation(server("GET /wp-login.php", 404)) == "GET (unmatched route)"
    assert operation(server("GET /.env", 404)) == "GET (unmatched route)"
    assert operation(server("GET /items/77", 200)) == "GET /items/{id}"  # no route: templated
    assert route_of({"rpc.service": "Cart", "rpc.method": "Add"}, "x") == "Cart/Add"
    consumer = span("c", None, 0, 1, name="orders process", kind=SpanKind.CONSUMER)
    assert operation(consumer) == "orders process" and is_entry(consumer.kind)


def test_calls_are_named_by_their_target() -> None:
    query = db("q", None, 0, 1, "select * from users where id = 42")
    assert operation(query) == "postgresql SELECT * FROM users WHERE id = ?"
    assert is_exit(query.kind) and not is_entry(query.kind)
    call = http_client("h", None, 0, 1, "GET", "/quote/123", host="pricing")
    assert operation(call) == "GET pricing/quote/{id}"
    long_a = db("a", None, 0, 1, "SELECT " + ", ".join(f"a{i}" for i in range(80)) + " FROM t")
    long_b = db("b", None, 0, 1, "SELECT " + ", ".join(f"a{i}" for i in range(81)) + " FROM t")
    name_a, name_b = operation(long_a), operation(long_b)
    assert name_a is not None and len(name_a) <= MAX_OPERATION_CHARS and name_a != name_b


def test_asgi_send_and_receive_are_no_operation() -> None:
    for name in ("GET /items/3 http send", "GET /items/3 http receive", "/ws websocket send"):
        inner = span("i", "s", 0, 1, name=name)
        assert is_framework_internal(inner) and operation(inner) is None
    assert operation(span("r", None, 0, 1, name="render 17 rows")) == "render {id} rows"


def test_errors_are_status_error_or_a_5xx_answer_of_a_server() -> None:
    assert is_error(server("GET /", 503))
    assert not is_error(server("GET /", 404))
    assert is_error(span("x", None, 0, 1, status=StatusCode.ERROR))
    client = http_client("h", None, 0, 1, "GET", "/")
    client.attributes["http.response.status_code"] = 503
    assert not is_error(client)  # the caller's error is the callee's server span


def test_templating_keeps_words_and_replaces_ids() -> None:
    assert template_name("GET /a/b?c=1") == "GET /a/b"
    assert template_name("job 0f8fad5b-d9cb-469f-a165-70867728950e") == "job {id}"
    assert template_name("token eyJhbGciOiJIUzI1NiIsInR5cCI6") == "token {id}"
    assert template_name("http send") == "http send"
    assert doctest.testmod(semconv).failed == 0
