"""Entry bytes: format tag, compression flag, round trips, refusals."""

from __future__ import annotations

import importlib.util

import pytest

from otel_perf.cache import CacheConfig, CacheValueError
from otel_perf.cache.codec import FORMAT_BYTES, FORMAT_JSON, PLAIN, ZLIB, decode, encode

VALUE = {"rows": [[i, f"name-{i}", i * 1.5] for i in range(200)], "ok": True, "none": None}


def test_small_values_are_stored_plain_and_round_trip() -> None:
    encoded = encode("c", "k", {"a": 1}, CacheConfig())
    assert encoded.blob[:2] == bytes((FORMAT_JSON, PLAIN))
    assert not encoded.compressed
    assert decode(encoded.blob) == {"a": 1}


def test_values_over_the_threshold_are_zlib_compressed_and_round_trip() -> None:
    encoded = encode("c", "k", VALUE, CacheConfig(compress_threshold=1024))
    assert encoded.blob[:2] == bytes((FORMAT_JSON, ZLIB))
    assert encoded.compressed and len(encoded.blob) < encoded.raw_bytes / 2
    assert decode(encoded.blob) == VALUE


def test_bytes_are_stored_raw_and_come_back_as_bytes() -> None:
    payload = bytes(range(256)) * 10
    encoded = encode("c", "k", payload, CacheConfig(compress_threshold=100))
    assert encoded.blob[0] == FORMAT_BYTES and encoded.compressed
    assert decode(encoded.blob) == payload
    assert decode(encode("c", "k", b"", CacheConfig()).blob) == b""


def test_an_unserialisable_value_is_refused_naming_cache_key_and_type() -> None:
    with pytest.raises(CacheValueError, match=r"cache 'c' key 'user:1': value of type set"):
        encode("c", "user:1", {1, 2}, CacheConfig())
    with pytest.raises(CacheValueError, match="type dict"):
        encode("c", "k", {"when": object()}, CacheConfig())
    with pytest.raises(CacheValueError, match="type float"):
        encode("c", "k", float("nan"), CacheConfig())


def test_a_value_over_max_value_bytes_is_refused() -> None:
    with pytest.raises(CacheValueError, match=r"key 'big': serialised value is 1002 bytes"):
        encode("c", "big", "x" * 1000, CacheConfig(max_value_bytes=1000))


def test_a_corrupt_header_is_a_clear_error() -> None:
    with pytest.raises(CacheValueError, match="no header"):
        decode(b"J")
    with pytest.raises(CacheValueError, match="unknown format tag"):
        decode(b"Z\x00{}")
    with pytest.raises(CacheValueError, match="unknown compression flag"):
        decode(b"J\x09{}")


def test_zstd_is_refused_with_a_clear_error_without_the_package() -> None:
    if importlib.util.find_spec("zstandard") is not None:
        encoded = encode("c", "k", VALUE, CacheConfig(compression="zstd"))
        assert encoded.blob[1] == 2 and decode(encoded.blob) == VALUE
        return
    with pytest.raises(ValueError, match="zstandard package"):
        CacheConfig(compression="zstd")
