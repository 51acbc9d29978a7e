"""What a regression series is about: an operation people mean, never a mixture.

Change points and version comparisons only make sense on something that can change as one
thing. A span name is not always that: every sqlite query is named ``SELECT /path/shop.db``
(an N+1 lookup and a slow search under one name, so a release that changes the *mix* looks
like a 900x slower "query"), and OpenTelemetry's ASGI middleware emits ``GET /items/3 http
send`` / ``http receive`` INTERNAL spans named from the raw path. So:

* **entry operations** — SERVER and CONSUMER spans — are keyed ``METHOD route``
  (``http.route``; else the span name with ids, UUIDs and long hex in a path templated),
  or by the span name when they are not HTTP;
* **statements** — CLIENT spans with a query text (``db.query.text`` / ``db.statement``) —
  are keyed ``db <system>: <fingerprint>`` (values taken out, ``bottlenecks.fingerprint``);
* everything else (INTERNAL spans such as ``http send``, client calls without a statement,
  producers) is not a regression series: :func:`operation_key` returns None.
"""

from __future__ import annotations

from otel_perf.fingerprint import (
    db_statement,
    db_system,
    fingerprint,
    template_path,
)
from otel_perf.model import SpanKind, SpanRecord

ENTRY_KINDS = frozenset({SpanKind.SERVER, SpanKind.CONSUMER})
FRAMEWORK_SUFFIXES = (" http send", " http receive")
STATEMENT_PREFIX = "db "


def operation_key(span: SpanRecord) -> str | None:
    """The series ``span`` belongs to (module docstring), or None when it is not one."""
    if span.kind in ENTRY_KINDS:
        return entry_key(span)
    if span.kind == SpanKind.CLIENT:
        statement = db_statement(span.attributes)
        if statement is not None:
            system = db_system(span.attributes) or "sql"
            return f"{STATEMENT_PREFIX}{system}: {fingerprint(statement)}"
    return None


def entry_key(span: SpanRecord) -> str | None:
    """``METHOD route`` of a SERVER or CONSUMER span; None for framework-internal names."""
    if span.name.endswith(FRAMEWORK_SUFFIXES):
        return None
    route = span.attributes.get("http.route")
    method = span.attributes.get("http.request.method") or span.attributes.get("http.method")
    if isinstance(route, str) and route and isinstance(method, str) and method:
        return f"{method.upper()} {route}"
    return templated_name(span.name)


def templated_name(name: str) -> str:
    """``GET /users/7`` → ``GET /users/{id}``; names without a path are kept as they are."""
    head, space, path = name.partition(" ")
    if space and path.startswith("/"):
        return f"{head} {template_path(path)}"
    return template_path(name) if name.startswith("/") else name


def is_entry_series(span_kind: int, operation: str) -> bool:
    """Whether a span-metrics series (kind, span name) is an entry operation to watch."""
    return span_kind in ENTRY_KINDS and not operation.endswith(FRAMEWORK_SUFFIXES)
