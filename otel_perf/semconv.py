"""What a span stands for, read from OpenTelemetry's semantic conventions, in one place.

Every processor asks the same questions of a span — which route does it serve, did it
fail, does a request enter or leave the service here, which operation is it — and must
get the same answers, or RED, SLOs, rankings and anomaly series disagree about what an
"operation" is. The answers:

* **Entry operations** are SERVER and CONSUMER spans, named by route (``GET /orders/{id}``,
  ``rpc.service/rpc.method``); an HTTP server span without a route that answered 404 is
  one operation per method (``GET (unmatched route)``), whatever path was asked for.
* **Exit operations** (outgoing calls) are CLIENT and PRODUCER spans, named by what they
  target: a database call by its system and statement fingerprint
  (``postgresql SELECT * FROM users WHERE id = ?``), an HTTP call by method, peer and route
  template (``GET pricing:8080/quote/{id}``).
* **Framework-internal spans** — the ASGI middleware's ``… http send`` /
  ``… http receive`` INTERNAL spans — are no operation: their time is their parent's.
* Any name that is used as an operation has raw ids (numbers, UUIDs, long hex) and the
  query string taken out of its paths first, so a name can never mint a series per id.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from otel_perf.fingerprint import (
    ID_SEGMENT,
    db_statement,
    db_system,
    fingerprint,
    fingerprint_id,
    http_call_key,
    template_path,
)
from otel_perf.model import AttrValue, SpanKind, SpanRecord, StatusCode

#: stable name -> older names Python instrumentations still send by default
ALIASES: dict[str, tuple[str, ...]] = {
    "http.request.method": ("http.method",),
    "http.response.status_code": ("http.status_code",),
    "db.system.name": ("db.system",),
    "db.query.text": ("db.statement",),
    "db.operation.name": ("db.operation",),
    "db.namespace": ("db.name",),
    "url.path": ("http.target",),
}
ENTRY_KINDS = frozenset({SpanKind.SERVER, SpanKind.CONSUMER})
EXIT_KINDS = frozenset({SpanKind.CLIENT, SpanKind.PRODUCER})
UNMATCHED_ROUTE = "(unmatched route)"
MAX_OPERATION_CHARS = 200
"""Operation names are cut to this length (with a short hash of the rest kept)."""

_INTERNAL_SUFFIXES = (" http send", " http receive", " websocket send", " websocket receive")


def attribute(attrs: Mapping[str, AttrValue], name: str) -> AttrValue:
    """``attrs[name]``, falling back to the older semantic-convention names."""
    value = attrs.get(name)
    if value is None:
        for alias in ALIASES.get(name, ()):
            value = attrs.get(alias)
            if value is not None:
                break
    return value


def http_status(attrs: Mapping[str, AttrValue]) -> int | None:
    """The HTTP response status code, None when absent or not a number."""
    value = attribute(attrs, "http.response.status_code")
    try:
        return None if value is None else int(str(value))
    except ValueError:
        return None


def is_error(span: SpanRecord) -> bool:
    """Status ERROR, or a 5xx answer on a server span (the spanmetrics convention)."""
    if span.status_code == StatusCode.ERROR:
        return True
    if span.kind == SpanKind.SERVER:
        status = http_status(span.attributes)
        return status is not None and status >= 500
    return False


def is_entry(kind: int) -> bool:
    """A request enters the service here (SERVER, CONSUMER)."""
    return kind in ENTRY_KINDS


def is_exit(kind: int) -> bool:
    """The service calls out here (CLIENT, PRODUCER)."""
    return kind in EXIT_KINDS


def is_framework_internal(span: SpanRecord) -> bool:
    """An ASGI ``http send`` / ``http receive`` span (or its websocket twin): not an operation."""
    return span.kind == SpanKind.INTERNAL and span.name.endswith(_INTERNAL_SUFFIXES)


def route_of(attributes: Mapping[str, object], name: str) -> str:
    """The operation an entry span stands for: method + route, rpc method, or its name.

    An HTTP server span without ``http.route`` that answered 404 is the method's
    ``(unmatched route)``; any other name has its ids templated (:func:`template_name`).
    """
    method = attributes.get("http.request.method") or attributes.get("http.method")
    route = attributes.get("http.route")
    if route:
        return f"{method} {route}" if method else str(route)
    rpc = attributes.get("rpc.method")
    if rpc:
        service = attributes.get("rpc.service")
        return f"{service}/{rpc}" if service else str(rpc)
    status = attributes.get("http.response.status_code") or attributes.get("http.status_code")
    if method and str(status) == "404":
        return f"{method} {UNMATCHED_ROUTE}"
    return template_name(name)


@lru_cache(maxsize=16384)
def template_name(name: str) -> str:
    """``name`` with ids taken out of every word: ``GET /items/42?x=1`` → ``GET /items/{id}``.

    A word that is a path loses its query and has numeric, UUID, long hex and long
    token-like segments replaced by ``{id}``; a word that is an id on its own is ``{id}``.

    >>> template_name("GET /users/7/orders/0f8fad5b-d9cb-469f-a165-70867728950e")
    'GET /users/{id}/orders/{id}'
    """
    words = name.split(" ")
    out = [_template_word(word) for word in words]
    return " ".join(out)


def _template_word(word: str) -> str:
    if "/" in word:
        return template_path(word)
    return "{id}" if ID_SEGMENT.fullmatch(word) else word


def operation(span: SpanRecord) -> str | None:
    """The operation a span is counted under, None for framework-internal spans.

    Entry spans by :func:`route_of`; database calls by system and statement fingerprint;
    HTTP calls by method, peer and route template; anything else by its templated name.
    """
    return None if is_framework_internal(span) else kept_operation(span)


def kept_operation(span: SpanRecord) -> str:
    """:func:`operation` of a span already known not to be framework-internal."""
    kind = span.kind
    if kind in ENTRY_KINDS:
        return route_of(span.attributes, span.name)
    if kind in EXIT_KINDS:
        return exit_operation_memo(span.attributes, span.name)
    return template_name(span.name)


#: Every attribute :func:`exit_operation` reads (through ``otel_perf.fingerprint``); the
#: memo below is keyed by these, so a key read there must be listed here
#: (``tests/test_semconv_memo.py`` checks the two agree).
EXIT_OPERATION_KEYS = (
    "db.system.name",
    "db.system",
    "db.query.text",
    "db.statement",
    "http.request.method",
    "http.method",
    "url.template",
    "http.route",
    "url.path",
    "http.target",
    "url.full",
    "http.url",
    "server.address",
    "server.port",
    "net.peer.name",
    "peer.service",
)


def exit_operation_memo(attrs: Mapping[str, AttrValue], name: str) -> str:
    """:func:`exit_operation`, remembered per name and the attributes it reads (bounded).

    Calls to one target repeat the same few attribute values, so naming them (a
    fingerprint or a URL template, f-strings) is done once per distinct call, not per span.
    """
    values = tuple(map(attrs.get, EXIT_OPERATION_KEYS))
    port = attrs.get("server.port")
    try:  # the port's type too: 8080, 8080.0 and True hash alike but name differently
        return _exit_operation_of(name, values, type(port).__name__)
    except TypeError:  # an unhashable (list or map) value: name it directly
        return exit_operation(attrs, name)


@lru_cache(maxsize=8192)
def _exit_operation_of(name: str, values: tuple[AttrValue, ...], _port_type: str) -> str:
    attrs = {k: v for k, v in zip(EXIT_OPERATION_KEYS, values, strict=True) if v is not None}
    return exit_operation(attrs, name)


def exit_operation(attrs: Mapping[str, AttrValue], name: str) -> str:
    """An outgoing call: ``db.system fingerprint``, ``METHOD peer/route``, or its name."""
    system = db_system(attrs)
    statement = db_statement(attrs)
    if statement is not None:
        text = f"{system or 'db'} {fingerprint(statement)}"
        if len(text) > MAX_OPERATION_CHARS:  # keep distinct long statements apart
            text = f"{text[: MAX_OPERATION_CHARS - 19]}… #{fingerprint_id(text)}"
        return text
    if system is not None:
        named = template_name(name)
        return named if named.startswith(system) else f"{system} {named}"
    key = http_call_key(attrs, name)
    if key is not None:
        peer = attrs.get("peer.service")
        return key if not isinstance(peer, str) or not peer else f"{peer} {key}"
    return template_name(name)
