"""SQL fingerprints, DB attribute readers and HTTP call keys."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otel_perf import fingerprint as fingerprint_module
from otel_perf.fingerprint import (
    MAX_STATEMENT_CHARS,
    db_operation,
    db_statement,
    db_system,
    fingerprint,
    fingerprint_id,
    http_call_key,
    template_path,
)
from otel_perf.model import AttrValue

QUERIES = [
    pytest.param(
        "SELECT users.id AS users_id, users.name AS users_name \nFROM users \n"
        "WHERE users.id = %(id_1)s",
        "SELECT users.id AS users_id, users.name AS users_name FROM users WHERE users.id = ?",
        id="sqlalchemy-pyformat",
    ),
    pytest.param(
        "SELECT orders.id FROM orders WHERE orders.user_id IN "
        "(%(user_id_1_1)s, %(user_id_1_2)s, %(user_id_1_3)s)",
        "SELECT orders.id FROM orders WHERE orders.user_id IN (?)",
        id="sqlalchemy-expanding-in",
    ),
    pytest.param(
        'SELECT "auth_user"."id", "auth_user"."username" FROM "auth_user" '
        'WHERE "auth_user"."id" = 42 LIMIT 21',
        'SELECT "auth_user"."id", "auth_user"."username" FROM "auth_user" '
        'WHERE "auth_user"."id" = ? LIMIT ?',
        id="django-get",
    ),
    pytest.param(
        'INSERT INTO "blog_entry" ("headline", "rating") VALUES (\'a\', 1), (\'b\', 2), '
        '(\'c\', 3) RETURNING "blog_entry"."id"',
        'INSERT INTO "blog_entry" ("headline", "rating") VALUES (?) RETURNING "blog_entry"."id"',
        id="django-bulk-create",
    ),
    pytest.param(
        'SELECT COUNT(*) AS "__count" FROM "app_item" WHERE NOT ("app_item"."id" IN (1, 2, 3))',
        'SELECT COUNT(*) AS "__count" FROM "app_item" WHERE NOT ("app_item"."id" IN (?))',
        id="django-count-exclude",
    ),
    pytest.param(
        "SELECT * FROM accounts WHERE email = $1 AND active = $2",
        "SELECT * FROM accounts WHERE email = ? AND active = ?",
        id="psycopg3-server-binds",
    ),
    pytest.param(
        "select id from events where created_at > $1::timestamptz and kind = any($2::text[])",
        "SELECT id FROM events WHERE created_at > ?::timestamptz AND kind = ANY (?::text[])",
        id="postgres-casts",
    ),
    pytest.param(
        "SELECT * FROM t WHERE id = ANY(ARRAY[1, 2, 3]) AND tag = ANY(ARRAY['a','b'])",
        "SELECT * FROM t WHERE id = ANY (ARRAY[?]) AND tag = ANY (ARRAY[?])",
        id="psycopg2-list-adaptation",
    ),
    pytest.param(
        "SELECT * FROM t WHERE a = -1.5e3 AND b = 0xFF AND c = TRUE AND d IS NULL "
        "AND e = 'it''s' AND f = E'x\\'y' AND g = .5 AND h = false",
        "SELECT * FROM t WHERE a = ? AND b = ? AND c = ? AND d IS NULL AND e = ? AND f = ? "
        "AND g = ? AND h = ?",
        id="every-literal",
    ),
    pytest.param(
        "/* controller='users',action='show' */ select id from users -- trailing\n"
        "  where id = :id /*traceparent='00-0af7651916cd43dd-b7ad6b7169203331-01'*/",
        "SELECT id FROM users WHERE id = ?",
        id="sqlcommenter-and-comments",
    ),
    pytest.param(
        "SELECT `users`.`id` FROM `users` WHERE `users`.`email` = 'a@b.c' LIMIT 1",
        "SELECT `users`.`id` FROM `users` WHERE `users`.`email` = ? LIMIT ?",
        id="mysql-backticks",
    ),
    pytest.param(
        "INSERT INTO t (a, b) VALUES (?, ?)",
        "INSERT INTO t(a, b) VALUES (?)",
        id="sqlite-qmark",
    ),
    pytest.param(
        "SELECT * FROM a WHERE id IN (SELECT a_id FROM b WHERE c = 5)",
        "SELECT * FROM a WHERE id IN (SELECT a_id FROM b WHERE c = ?)",
        id="subquery-in-stays",
    ),
    pytest.param(
        "SELECT * FROM t WHERE (a, b) IN ((1, 2), (3, 4), (5, 6))",
        "SELECT * FROM t WHERE (a, b) IN (?)",
        id="tuple-in",
    ),
    pytest.param(
        "SELECT a - 1 FROM t WHERE x = -1 AND y = +2 AND z IN (-3, 4)",
        "SELECT a - ? FROM t WHERE x = ? AND y = ? AND z IN (?)",
        id="signs-vs-minus",
    ),
    pytest.param(
        'UPDATE "t" SET "n" = "n" + 1, "ts" = \'2024-01-01\' WHERE "id" = 3',
        'UPDATE "t" SET "n" = "n" + ?, "ts" = ? WHERE "id" = ?',
        id="update",
    ),
    pytest.param("SELECT $$it's$$, $tag$x$y$tag$", "SELECT ?, ?", id="dollar-quoted"),
    pytest.param(
        "INSERT INTO kv (k, v) VALUES (%s, %s) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
        "INSERT INTO kv(k, v) VALUES (?) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
        id="upsert",
    ),
    pytest.param("SELECT * FROM t WHERE a IN ()", "SELECT * FROM t WHERE a IN ()", id="empty-in"),
]


@pytest.mark.parametrize(("sql", "expected"), QUERIES)
def test_fingerprints_of_real_queries(sql: str, expected: str) -> None:
    assert fingerprint(sql) == expected
    assert fingerprint(expected) == expected  # canonical: a fingerprint is its own fingerprint


# Backslashes are left out: they escape only in MySQL strings, which double them when quoting.
NOTE_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\\"))


@given(st.integers(), NOTE_TEXT, st.lists(st.integers(), min_size=1))
def test_same_query_with_other_values_has_the_same_fingerprint(
    number: int, text: str, ids: list[int]
) -> None:
    quoted = "'" + text.replace("'", "''") + "'"
    listed = ", ".join(map(str, ids))
    sql = f"SELECT * FROM orders WHERE total > {number} AND note = {quoted} AND id IN ({listed})"
    assert fingerprint(sql) == "SELECT * FROM orders WHERE total > ? AND note = ? AND id IN (?)"


def test_different_tables_or_columns_differ() -> None:
    prints = {
        fingerprint("SELECT * FROM orders WHERE id = 1"),
        fingerprint("SELECT * FROM users WHERE id = 1"),
        fingerprint("SELECT * FROM orders WHERE user_id = 1"),
        fingerprint('SELECT * FROM "Orders" WHERE id = 1'),
    }
    assert len(prints) == 4


def test_whitespace_and_keyword_case_do_not_matter() -> None:
    assert fingerprint("select  *\n\tfrom t where x=1") == fingerprint(
        "SELECT * FROM t WHERE x = 2"
    )


def test_long_statements_are_cut_before_normalising() -> None:
    long_in = "SELECT * FROM t WHERE id IN (" + ", ".join(map(str, range(5_000))) + ")"
    assert fingerprint(long_in) == fingerprint(long_in[:MAX_STATEMENT_CHARS])
    assert fingerprint("SELECT '" + "x" * 10_000) == "SELECT ?"
    assert fingerprint("SELECT 1 /* never closed " + "x" * 10) == "SELECT ?"


@given(st.text(max_size=300))
def test_any_text_gives_a_bounded_fingerprint(text: str) -> None:
    assert len(fingerprint(text)) <= 2 * MAX_STATEMENT_CHARS


def test_fingerprint_id_is_short_and_stable() -> None:
    key = "SELECT * FROM t WHERE id = ?"
    assert fingerprint_id(key) == fingerprint_id(key)
    assert len(fingerprint_id(key)) == 16 and int(fingerprint_id(key), 16) >= 0
    assert fingerprint_id(key) == "13c293b1b5f28b3b"
    assert fingerprint_id(key) != fingerprint_id(key + " ")


def test_db_readers_prefer_the_new_semantic_conventions() -> None:
    both: dict[str, AttrValue] = {
        "db.query.text": "new",
        "db.statement": "old",
        "db.system.name": "postgresql",
        "db.system": "mysql",
        "db.operation.name": "SELECT",
        "db.operation": "select",
    }
    assert (db_statement(both), db_system(both), db_operation(both)) == (
        "new",
        "postgresql",
        "SELECT",
    )
    old: dict[str, AttrValue] = {"db.statement": "old", "db.system": "mysql", "db.operation": "get"}
    assert (db_statement(old), db_system(old), db_operation(old)) == ("old", "mysql", "get")
    assert (db_statement({}), db_system({}), db_operation({})) == (None, None, None)


@pytest.mark.parametrize(
    ("statement", "operation"),
    [
        ("select 1", "SELECT"),
        ("  /* hint */ (SELECT 1) UNION (SELECT 2)", "SELECT"),
        ("WITH x AS (SELECT 1) SELECT * FROM x", "WITH"),
        ("get session:42", "GET"),
        ("-- only a comment", None),
        ("42", None),
    ],
)
def test_db_operation_falls_back_to_the_first_keyword(
    statement: str, operation: str | None
) -> None:
    assert db_operation({"db.statement": statement}) == operation


@pytest.mark.parametrize(
    ("attrs", "name", "key"),
    [
        (
            {"http.request.method": "GET", "server.address": "users", "url.template": "/u/{id}"},
            "GET",
            "GET users/u/{id}",
        ),
        ({"http.method": "post", "http.route": "/orders"}, "POST", "POST /orders"),
        (
            {
                "http.request.method": "GET",
                "server.address": "api",
                "server.port": 8080,
                "url.path": "/users/42/orders/9f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
            },
            "GET",
            "GET api:8080/users/{id}/orders/{id}",
        ),
        (
            {"http.method": "GET", "net.peer.name": "legacy", "http.target": "/items/7?full=1"},
            "HTTP GET",
            "GET legacy/items/{id}",
        ),
        (
            {"http.request.method": "DELETE", "peer.service": "cart"},
            "DELETE /carts/3",
            "DELETE cart/carts/{id}",
        ),
        ({"http.request.method": "GET", "server.address": "api"}, "GET", None),
        ({"server.address": "api", "url.path": "/x"}, "GET /x", None),
    ],
)
def test_http_call_keys(attrs: dict[str, AttrValue], name: str, key: str | None) -> None:
    assert http_call_key(attrs, name) == key


def test_template_path_replaces_ids_only() -> None:
    assert template_path("/v2/users/123/avatar.png") == "/v2/users/{id}/avatar.png"
    assert template_path("/blobs/0123456789abcdef0123#top") == "/blobs/{id}"
    assert template_path("/") == "/"


def test_docstring_examples() -> None:
    assert doctest.testmod(fingerprint_module).failed == 0


def test_http_call_key_reads_the_target_from_the_full_url() -> None:
    attrs: dict[str, AttrValue] = {
        "http.method": "GET",
        "http.url": "https://user:secret@pricing.internal:8443/quote/12345?currency=EUR",
    }
    assert http_call_key(attrs, "GET") == "GET pricing.internal:8443/quote/{id}"
    assert http_call_key({"http.request.method": "GET", "url.full": "not a url"}, "GET") is None
