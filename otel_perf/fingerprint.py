"""What a client call does, with the values taken out: SQL fingerprints and HTTP call keys.

Two calls with the same fingerprint differ only in their arguments, which is
what makes a loop of them an N+1 and lets findings group across traces.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from functools import lru_cache
from urllib.parse import urlsplit

from otel_perf.model import AttrValue

MAX_STATEMENT_CHARS = 2_000
"""Statements are cut to this many characters before normalising, so a huge
generated query costs bounded time; two statements that only differ after it
share a fingerprint."""

_TOKEN = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
    | (?P<string>[EeNnBbXx]?'(?:[^'\\]|''|\\.)*(?:'|\Z))
    | (?P<dollar>\$(?P<tag>(?:[A-Za-z_]\w*)?)\$.*?(?:\$(?P=tag)\$|\Z))
    | (?P<quoted>"(?:[^"]|"")*"?|`[^`]*`?)
    | (?P<param>\?|\$\d+|%\(\w+\)s|%s|(?<!:):[A-Za-z_]\w*|:\d+|@\w+)
    | (?P<number>0[xX][0-9A-Fa-f]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<word>[^\W\d][\w$]*)
    | (?P<op>::|<=|>=|<>|!=|\|\||->>|->|.)
    """,
    re.VERBOSE | re.DOTALL,
)
# Unterminated strings and comments (a cut statement) run to the end instead of failing.
# Backslash escapes are MySQL's; a standard string ending in one ('C:\') is misread: rare.
# The dollar tag always matches (maybe empty) because a backreference to a group
# that took no part never matches in Python.

_VALUE_KINDS = frozenset({"string", "dollar", "param", "number"})

KEYWORDS = frozenset(
    """
    ALL ALTER AND ANY ARRAY AS ASC BEGIN BETWEEN BY CASE CAST COMMIT CONFLICT CREATE CROSS
    DEFAULT DELETE DESC DISTINCT DO DROP ELSE END ESCAPE EXCEPT EXISTS EXPLAIN FALSE FETCH
    FIRST FOR FROM FULL GROUP HAVING ILIKE IN INDEX INNER INSERT INTERSECT INTERVAL INTO IS
    JOIN LAST LATERAL LEFT LIKE LIMIT LOCKED NATURAL NEXT NOT NOTHING NOWAIT NULL NULLS
    OFFSET ON ONLY OR ORDER OUTER OVER PARTITION RECURSIVE RELEASE RETURNING RIGHT ROLLBACK
    ROW ROWS SAVEPOINT SELECT SET SHARE SKIP SOME TABLE THEN TRUE TRUNCATE UNION UPDATE
    USING VALUES WHEN WHERE WINDOW WITH
    """.split()
)
"""Words upper-cased in fingerprints; other words are identifiers and keep their case."""

_PLACEHOLDER_GROUP = frozenset({"?", ","})
_NOT_OPERANDS = frozenset(
    {"(", "[", ",", "=", "<", ">", "<=", ">=", "<>", "!=", "+", "-", "*", "/", "%", "||"}
)
_NO_SPACE_BEFORE = frozenset({",", ")", "]", ".", "::"})
_NO_SPACE_AFTER = frozenset({"(", "[", ".", "::"})

ID_SEGMENT = re.compile(
    r"\d+|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    r"|[0-9A-Fa-f]{16,}|(?=[A-Za-z0-9_-]{20,}$)(?=.*\d)[A-Za-z0-9_-]+"
)
"""A path segment that is an id: a number, a UUID, long hex, or a long token with a digit."""


def db_statement(attrs: Mapping[str, AttrValue]) -> str | None:
    """The query text of a DB span (``db.query.text``, else ``db.statement``)."""
    return _text(attrs, "db.query.text", "db.statement")


def db_system(attrs: Mapping[str, AttrValue]) -> str | None:
    """The database kind of a DB span (``db.system.name``, else ``db.system``)."""
    return _text(attrs, "db.system.name", "db.system")


def db_operation(attrs: Mapping[str, AttrValue]) -> str | None:
    """The operation of a DB span.

    ``db.operation.name``, else ``db.operation``, else the statement's first
    keyword (``SELECT``, ``WITH``, ``GET``), upper-cased.
    """
    named = _text(attrs, "db.operation.name", "db.operation")
    if named is not None:
        return named
    statement = db_statement(attrs)
    return None if statement is None else _first_word(statement[:MAX_STATEMENT_CHARS])


@lru_cache(maxsize=8192)  # ORMs send the same parametrised text again and again
def fingerprint(sql: str) -> str:
    """The statement with its values replaced by ``?``, in one canonical spelling.

    Literals (strings, dollar-quoted strings, numbers in any notation,
    ``TRUE``/``FALSE``) and placeholders (``$1``, ``?``, ``:name``, ``%s``,
    ``%(name)s``) become ``?``; ``NULL`` stays. Lists of values collapse:
    ``IN (?, ?)`` to ``IN (?)``, every row after ``VALUES`` to ``VALUES (?)``,
    ``ARRAY[?, ?]`` to ``ARRAY[?]``. Comments go (sqlcommenter's per-request
    ones included), whitespace is canonical, keywords are upper-cased;
    identifiers, double-quoted or not, are kept as written.

    Args:
        sql: The statement; only its first ``MAX_STATEMENT_CHARS`` are read.

    Returns:
        The fingerprint text.

    >>> fingerprint("select * from users where id = 42 and name = 'O''Brien' -- hi")
    'SELECT * FROM users WHERE id = ? AND name = ?'
    """
    return _join(_collapse(_tokens(sql[:MAX_STATEMENT_CHARS])))


def fingerprint_id(text: str) -> str:
    """A short stable id for a fingerprint or call key (16 hex digits of BLAKE2b)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def http_call_key(attrs: Mapping[str, AttrValue], name: str) -> str | None:
    """What an HTTP client call targets, with ids taken out of the path.

    ``METHOD host/route``: the route is ``url.template``, else ``http.route``,
    else the path (``url.path``, ``http.target``, the path of ``url.full`` /
    ``http.url`` or a ``METHOD /path`` span name) with numeric, UUID and long
    hex segments replaced by ``{id}``; the host is ``server.address[:server.port]``,
    else ``net.peer.name``, else ``peer.service``, else the URL's host, else empty.

    Args:
        attrs: The span's attributes.
        name: The span's name.

    Returns:
        The key, or None when the span has no HTTP method or nothing path-like.
    """
    method = _text(attrs, "http.request.method", "http.method")
    if method is None:
        return None
    route = _text(attrs, "url.template", "http.route")
    if route is None:
        path = (
            _text(attrs, "url.path", "http.target")
            or _path_of_url(_text(attrs, "url.full", "http.url"))
            or _path_in_name(name, method)
        )
        if path is None:
            return None
        route = template_path(path)
    return f"{method.upper()} {_host(attrs)}{route}"


def template_path(path: str) -> str:
    """The path without its query, ids replaced by ``{id}``: ``/users/7?x=1`` → ``/users/{id}``."""
    bare = path.partition("?")[0].partition("#")[0]
    return "/".join("{id}" if ID_SEGMENT.fullmatch(s) else s for s in bare.split("/"))


def _text(attrs: Mapping[str, AttrValue], *keys: str) -> str | None:
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _host(attrs: Mapping[str, AttrValue]) -> str:
    address = _text(attrs, "server.address")
    if address is None:
        named = _text(attrs, "net.peer.name", "peer.service")
        return named if named is not None else _netloc(_text(attrs, "url.full", "http.url"))
    port = attrs.get("server.port")
    usable = isinstance(port, int | str) and not isinstance(port, bool)
    return f"{address}:{port!s}" if usable else address


def _netloc(url: str | None) -> str:
    if url is None:
        return ""
    try:
        return urlsplit(url).netloc.rpartition("@")[2]  # never the credentials
    except ValueError:
        return ""


def _path_of_url(url: str | None) -> str | None:
    if url is None:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL: no path from it
        return None
    if not parts.netloc:
        return None  # not an absolute URL
    return parts.path or "/"


def _path_in_name(name: str, method: str) -> str | None:
    head, _, rest = name.partition(" ")
    return rest if head.upper() == method.upper() and rest.startswith("/") else None


def _first_word(statement: str) -> str | None:
    for match in _TOKEN.finditer(statement):
        kind = match.lastgroup
        if kind == "word":
            return match.group().upper()
        if kind not in ("space", "comment") and match.group() != "(":
            return None
    return None


def _tokens(sql: str) -> list[str]:
    tokens: list[str] = []
    for match in _TOKEN.finditer(sql):
        kind, text = match.lastgroup, match.group()
        if kind in ("space", "comment"):
            continue
        if kind in _VALUE_KINDS or (kind == "word" and text.upper() in ("TRUE", "FALSE")):
            _drop_sign(tokens)
            tokens.append("?")
        elif kind == "word" and text.upper() in KEYWORDS:
            tokens.append(text.upper())
        else:
            tokens.append(text)
    return tokens


def _drop_sign(tokens: list[str]) -> None:
    # A sign after an operator, a keyword or the start belongs to the literal: -5 is one value.
    if tokens and tokens[-1] in ("-", "+"):
        before = tokens[-2] if len(tokens) > 1 else "("
        if before in _NOT_OPERANDS or before in KEYWORDS:
            tokens.pop()


def _collapse(tokens: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        out.append(tokens[i])
        end = _list_end(tokens, i)
        if end is None:
            i += 1
            continue
        out.extend(("[", "?", "]") if tokens[i] == "ARRAY" else ("(", "?", ")"))
        i = end + 1
    return out


def _list_end(tokens: list[str], i: int) -> int | None:
    """Index of the last token of the value list that follows ``tokens[i]``, if any."""
    keyword = tokens[i]
    if keyword == "VALUES":
        return _rows_end(tokens, i + 1)
    if keyword == "IN":
        return _group_end(tokens, i + 1, "(", ")", only_values=True)
    if keyword == "ARRAY":
        return _group_end(tokens, i + 1, "[", "]", only_values=True)
    return None


def _rows_end(tokens: list[str], i: int) -> int | None:
    end = _group_end(tokens, i, "(", ")", only_values=False)
    while end is not None and tokens[end + 1 : end + 3] == [",", "("]:
        following = _group_end(tokens, end + 2, "(", ")", only_values=False)
        if following is None:
            break
        end = following
    return end


def _group_end(
    tokens: list[str], i: int, opening: str, closing: str, only_values: bool
) -> int | None:
    """Index of the bracket closing the group opened at ``tokens[i]``.

    None when there is no group, it never closes (a cut statement), it is
    empty, or ``only_values`` is set and it holds more than values (a subquery).
    """
    if i >= len(tokens) or tokens[i] != opening or tokens[i + 1 : i + 2] == [closing]:
        return None
    depth = 0
    for j in range(i, len(tokens)):
        token = tokens[j]
        depth += (token == opening) - (token == closing)
        if depth == 0:
            return j
        if only_values and token not in _PLACEHOLDER_GROUP and token not in (opening, closing):
            return None
    return None


def _join(tokens: list[str]) -> str:
    parts: list[str] = []
    previous = ""
    for token in tokens:
        if parts and _spaced(previous, token):
            parts.append(" ")
        parts.append(token)
        previous = token
    return "".join(parts)


def _spaced(previous: str, token: str) -> bool:
    if token in _NO_SPACE_BEFORE or previous in _NO_SPACE_AFTER:
        return False
    # A call hugs its function's name (count(*), ARRAY[?]); after keywords and
    # quoted names (INSERT INTO "t" ("a")) the bracket opens a list and keeps its space.
    return not (token in ("(", "[") and (_is_plain_name(previous) or previous == "ARRAY"))


def _is_plain_name(token: str) -> bool:
    return token not in KEYWORDS and (token[0].isalpha() or token[0] == "_")
