"""HTTP caching rules for a shared cache (RFC 9111) and the stored-response format.

Pure functions over header lists; :mod:`~.middleware` is the ASGI shell that applies them.

* :func:`request_rules`: what the request's ``Cache-Control``/``Pragma`` and credentials
  allow (``no-store``: neither look up nor store; ``no-cache``: skip the lookup, refresh).
* :func:`storable`: whether a response may be stored, for how long (``s-maxage``, else
  ``max-age``, at most ``max_ttl``; else the default TTL), under which ``Vary`` headers, and
  which of its headers are kept. Refused: a status outside ``statuses``, ``Set-Cookie``,
  ``Cache-Control: no-store | private | no-cache``, a TTL of 0, ``Vary: *``, and with
  credentials anything not ``public`` or ``s-maxage``.
* :func:`vary_digest`: the digest of the request's values of the ``Vary`` headers that
  tells variants apart in the key.
* :class:`Entry`: a stored response or a ``Vary`` pointer, as bytes: ``OPR1``, the length of
  a JSON header (status, headers, TTL, route, ...), the JSON, then the body.

>>> rules = storable(200, [(b"Cache-Control", b"max-age=30"), (b"Vary", b"Accept")],
...                  credentials=False, statuses=frozenset({200}), default_ttl=60, max_ttl=3600)
>>> rules.ttl, rules.vary
(30.0, ('accept',))
>>> storable(200, [(b"Cache-Control", b"private")], credentials=False,
...          statuses=frozenset({200}), default_ttl=60, max_ttl=3600) is None
True
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

logger = logging.getLogger("otel_perf.cache")

ALLOWED_STATUSES = frozenset({200, 203, 204, 301, 404})
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# recomputed for every answer from the cache
_NOT_STORED = HOP_BY_HOP | {b"age", b"x-cache", b"content-length"}
_REFUSING = frozenset({"no-store", "private", "no-cache"})
_MAGIC = b"OPR1"
_HEADER = struct.Struct(">4sI")


# -- stored entries --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """A stored response (``kind="response"``) or a pointer naming the ``Vary`` headers."""

    kind: Literal["response", "vary"]
    stored_at: float
    ttl: float
    vary: tuple[str, ...] = ()
    status: int = 0
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body: bytes = b""
    route: str | None = None
    route_format: str | None = None
    load_ms: float = 0.0

    def to_bytes(self) -> bytes:
        meta = {
            "kind": self.kind,
            "stored_at": self.stored_at,
            "ttl": self.ttl,
            "vary": list(self.vary),
            "status": self.status,
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in self.headers],
            "route": self.route,
            "route_format": self.route_format,
            "load_ms": self.load_ms,
        }
        raw = json.dumps(meta, separators=(",", ":")).encode()
        return _HEADER.pack(_MAGIC, len(raw)) + raw + self.body

    @classmethod
    def from_bytes(cls, data: object) -> Entry | None:
        """The entry in ``data``; None (with a debug log) for anything else."""
        try:
            if not isinstance(data, bytes | bytearray):
                raise ValueError(f"expected bytes, got {type(data).__name__}")
            magic, size = _HEADER.unpack_from(data)
            if magic != _MAGIC:
                raise ValueError("not a stored response")
            meta = json.loads(data[_HEADER.size : _HEADER.size + size])
            return cls(
                kind="vary" if meta["kind"] == "vary" else "response",
                stored_at=float(meta["stored_at"]),
                ttl=float(meta["ttl"]),
                vary=tuple(str(v) for v in meta["vary"]),
                status=int(meta["status"]),
                headers=tuple(
                    (k.encode("latin-1"), v.encode("latin-1")) for k, v in meta["headers"]
                ),
                body=bytes(data[_HEADER.size + size :]),
                route=meta.get("route"),
                route_format=meta.get("route_format"),
                load_ms=float(meta.get("load_ms", 0.0)),
            )
        except (ValueError, KeyError, TypeError, struct.error) as exc:
            logger.debug("otel_perf.cache: unreadable response entry: %s", exc)
            return None

    def fresh(self, now: float) -> bool:
        return now - self.stored_at < self.ttl


# -- request and response rules --------------------------------------------------------


def parse_headers(raw: Iterable[tuple[bytes, bytes]] | None) -> dict[bytes, list[bytes]]:
    """ASGI header pairs as lowercased name → values, in the order received."""
    found: dict[bytes, list[bytes]] = {}
    for name, value in raw or ():
        found.setdefault(name.lower(), []).append(value)
    return found


def _directives(values: Iterable[bytes]) -> dict[str, str | None]:
    """``Cache-Control`` directives, lowercased, with their argument (quotes removed).

    >>> _directives([b'public, Max-Age="30"', b"no-transform"])
    {'public': None, 'max-age': '30', 'no-transform': None}
    """
    out: dict[str, str | None] = {}
    for value in values:
        for part in value.decode("latin-1").split(","):
            name, _, argument = part.strip().partition("=")
            if name:
                out[name.strip().lower()] = argument.strip().strip('"') if argument else None
    return out


def _seconds(argument: str | None) -> int | None:
    return int(argument) if argument is not None and argument.isdigit() else None


def vary_digest(names: Iterable[str], headers: Mapping[bytes, list[bytes]]) -> str:
    """A 16-hex-digit digest of the request's values of the headers ``names``."""
    text = "\n".join(
        f"{name}={b', '.join(headers.get(name.encode('latin-1'), [])).decode('latin-1')}"
        for name in names
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _vary_names(headers: Mapping[bytes, list[bytes]]) -> tuple[str, ...] | None:
    """Header names the response's ``Vary`` lists (sorted, lowercased); None for ``*``."""
    names = {
        name.strip().lower()
        for value in headers.get(b"vary", [])
        for name in value.decode("latin-1").split(",")
        if name.strip()
    }
    return None if "*" in names else tuple(sorted(names))


@dataclass(frozen=True, slots=True)
class RequestRules:
    """What a request's headers allow the cache to do."""

    credentials: bool  # Authorization or Cookie sent
    no_store: bool  # Cache-Control: no-store: neither look up nor store
    refresh: bool  # Cache-Control: no-cache or Pragma: no-cache: skip the lookup, store anew


def request_rules(headers: Mapping[bytes, list[bytes]]) -> RequestRules:
    """The rules of a request's :func:`parse_headers` ``headers``."""
    control = _directives(headers.get(b"cache-control", []))
    return RequestRules(
        credentials=b"authorization" in headers or b"cookie" in headers,
        no_store="no-store" in control,
        refresh="no-cache" in control or b"no-cache" in headers.get(b"pragma", []),
    )


@dataclass(frozen=True, slots=True)
class Storable:
    """A response that may be stored: its TTL, its ``Vary`` names and the headers kept."""

    ttl: float
    vary: tuple[str, ...]
    headers: tuple[tuple[bytes, bytes], ...]


def storable(
    status: int,
    raw_headers: Iterable[tuple[bytes, bytes]],
    *,
    credentials: bool,
    statuses: frozenset[int],
    default_ttl: float,
    max_ttl: float,
) -> Storable | None:
    """Whether a response may go into a shared cache, and how; None when it may not.

    Args:
        status: the response's status code.
        raw_headers: its ASGI header pairs.
        credentials: the request carried Authorization or Cookie.
        statuses: status codes that may be stored.
        default_ttl: seconds when the response declares neither ``s-maxage`` nor ``max-age``.
        max_ttl: upper bound on a declared TTL.
    """
    pairs = tuple(raw_headers)
    headers = parse_headers(pairs)
    control = _directives(headers.get(b"cache-control", []))
    vary = _vary_names(headers)
    if (
        status not in statuses
        or b"set-cookie" in headers
        or vary is None
        or _REFUSING & control.keys()
        or (credentials and not ({"public", "s-maxage"} & control.keys()))
    ):
        return None
    declared = _seconds(control.get("s-maxage"))
    if declared is None:
        declared = _seconds(control.get("max-age"))
    ttl = default_ttl if declared is None else min(declared, max_ttl)
    if ttl <= 0:
        return None
    kept = tuple((name.lower(), value) for name, value in pairs if name.lower() not in _NOT_STORED)
    return Storable(float(ttl), vary, kept)


__all__ = [
    "ALLOWED_STATUSES",
    "HOP_BY_HOP",
    "Entry",
    "RequestRules",
    "Storable",
    "parse_headers",
    "request_rules",
    "storable",
    "vary_digest",
]
