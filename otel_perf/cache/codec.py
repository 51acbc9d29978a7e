"""Entry bytes: a 1-byte format tag, a 1-byte compression flag, then the payload.

``bytes`` values are stored raw (format ``B``); anything else must be JSON-serialisable
(format ``J``, UTF-8, compact separators, no NaN). Payloads longer than the cache's
``compress_threshold`` are compressed with zlib or zstd; the flag records which, so a
reader decodes an entry whatever the writer's settings were.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

from otel_perf.cache.config import CacheConfig, CacheValueError

FORMAT_BYTES = ord("B")
FORMAT_JSON = ord("J")
PLAIN, ZLIB, ZSTD = 0, 1, 2
HEADER_BYTES = 2
_CODECS = {"zlib": ZLIB, "zstd": ZSTD}
_DECODER = json.JSONDecoder()
# one encoder for every value: json.dumps with non-default options builds a new one per call
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_SCALARS = frozenset((str, int, float, bool, type(None)))


@dataclass(frozen=True, slots=True)
class Encoded:
    """A serialised value: ``blob`` (header + payload) is what is stored."""

    blob: bytes
    raw_bytes: int  # the payload before compression

    @property
    def compressed(self) -> bool:
        return self.blob[1] != PLAIN


def encode(name: str, key: str, value: Any, config: CacheConfig) -> Encoded:
    """Serialise ``value`` for ``key``, compressing it past the threshold.

    Raises:
        CacheValueError: the value is not bytes and not JSON-serialisable, or its serialised
            form is longer than ``config.max_value_bytes``.
    """
    if isinstance(value, bytes | bytearray | memoryview):
        fmt, payload = FORMAT_BYTES, bytes(value)
    else:
        fmt, payload = FORMAT_JSON, _to_json(name, key, value)
    if len(payload) > config.max_value_bytes:
        raise CacheValueError(
            f"cache {name!r} key {key!r}: serialised value is {len(payload)} bytes,"
            f" over max_value_bytes {config.max_value_bytes}"
        )
    flag, raw_bytes = PLAIN, len(payload)
    if raw_bytes > config.compress_threshold:
        flag = _CODECS[config.compression]
        payload = _compress(flag, payload)
    return Encoded(bytes((fmt, flag)) + payload, raw_bytes)


def decode(blob: bytes) -> Any:
    """The value stored in ``blob`` (as made by :func:`encode`).

    Raises:
        CacheValueError: the header is not one :func:`encode` writes.
    """
    if len(blob) < HEADER_BYTES:
        raise CacheValueError(f"cache entry of {len(blob)} bytes has no header")
    fmt, flag = blob[0], blob[1]
    payload = blob[HEADER_BYTES:] if flag == PLAIN else _decompress(flag, blob[HEADER_BYTES:])
    if fmt == FORMAT_BYTES:
        return payload
    if fmt == FORMAT_JSON:
        return _DECODER.decode(payload.decode())
    raise CacheValueError(f"cache entry has unknown format tag {fmt:#04x}")


def copy_json(value: Any) -> Any:
    """A deep copy of a value as :func:`decode` returns JSON (dicts, lists and scalars).

    About twice as fast as decoding the stored bytes again; nesting too deep for Python's
    recursion limit raises ``RecursionError`` (the caller decodes afresh instead).
    """
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _SCALARS else copy_json(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _SCALARS else copy_json(v) for v in value]
    return value


def _to_json(name: str, key: str, value: Any) -> bytes:
    try:
        text = _ENCODER.encode(value)
    except (TypeError, ValueError) as exc:
        raise CacheValueError(
            f"cache {name!r} key {key!r}: value of type {type(value).__name__} cannot be"
            f" stored: it must be bytes or JSON-serialisable ({exc})"
        ) from exc
    except RecursionError as exc:
        raise CacheValueError(
            f"cache {name!r} key {key!r}: value of type {type(value).__name__} is nested"
            " too deeply to serialise"
        ) from exc
    return text.encode()


def _compress(flag: int, payload: bytes) -> bytes:
    if flag == ZLIB:
        return zlib.compress(payload, 6)
    import zstandard  # CacheConfig refuses "zstd" when this cannot be imported

    return bytes(zstandard.ZstdCompressor(level=3).compress(payload))


def _decompress(flag: int, payload: bytes) -> bytes:
    if flag == ZLIB:
        return zlib.decompress(payload)
    if flag == ZSTD:
        try:
            import zstandard
        except ImportError as exc:
            raise CacheValueError(
                "cache entry is zstd-compressed but the zstandard package is not installed"
            ) from exc
        return bytes(zstandard.ZstdDecompressor().decompress(payload))
    raise CacheValueError(f"cache entry has unknown compression flag {flag}")
