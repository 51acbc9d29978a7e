"""One :class:`~otel_perf.rollups.REDBlock` as JSON-able data, and back, checked.

The series keys as id columns (into one table of their strings and one of their distinct
dimension sets); calls, errors, ``within`` and the histograms' columns
(:class:`~otel_perf.histogram.block.HistogramBlock`) as little-endian arrays, each
written ``"<dtype>:<base64>"``. Reading checks every array's dtype, length and
consistency before it is used, and raises :class:`~otel_perf.codec.StateError` naming
the path and the problem.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from otel_perf.codec import StateError
from otel_perf.histogram.block import HistogramBlock, SparseSides
from otel_perf.histogram.mapping import MAX_SCALE, MIN_SCALE
from otel_perf.rollups import REDBlock
from otel_perf.series import NO_WITHIN, SeriesKey

__all__ = ["encode_block", "read_block"]

_COUNT_DTYPES = ("u1", "u2", "u4", "i8")
_ROWS: tuple[tuple[str, str], ...] = (  # HistogramBlock's per-row columns and their dtype
    ("scale", "i1"),
    ("max_scale", "i1"),
    ("max_size", "i4"),
    ("zero_count", "i8"),
    ("count", "i8"),
    ("sum", "f8"),
    ("min", "f8"),
    ("max", "f8"),
)


def encode_block(block: REDBlock) -> dict[str, Any]:
    """One block: its keys, and every column as ``"<dtype>:<base64>"``."""
    hist = block.histograms
    body: dict[str, Any] = {
        "keys": _keys(block.series),
        "calls": _array(block.calls, "i8"),
        "errors": _array(block.errors, "i8"),
        "histograms": {
            **{name: _array(getattr(hist, name), dtype) for name, dtype in _ROWS},
            "positive": _sides(hist.positive),
            "negative": _sides(hist.negative),
        },
    }
    if block.within is not None:
        body["within"] = _within(block.within)
    return body


def _keys(keys: tuple[SeriesKey, ...]) -> dict[str, Any]:
    """The keys as columns of ids: into one table of their strings, and (``dims``) into a
    table of their distinct dimension tuples (shared by many series), each a flat list of
    name, value string ids."""
    strings: dict[str, int] = {}
    dims: dict[tuple[tuple[str, str], ...], int] = {}
    services = [strings.setdefault(k.service, len(strings)) for k in keys]
    operations = [strings.setdefault(k.operation, len(strings)) for k in keys]
    kinds = [k.span_kind for k in keys]
    dims_ids = [dims.setdefault(k.dims, len(dims)) for k in keys]
    table = [[strings.setdefault(x, len(strings)) for pair in d for x in pair] for d in dims]
    return {
        "strings": list(strings),
        "service": _array(np.array(services, np.int32), "i4"),
        "operation": _array(np.array(operations, np.int32), "i4"),
        "span_kind": _array(np.array(kinds, np.int32), "i4"),
        "dims": _array(np.array(dims_ids, np.int32), "i4"),
        "dims_table": table,
    }


def _array(values: NDArray[Any], dtype: str) -> str:
    data = np.ascontiguousarray(values, dtype=np.dtype(dtype).newbyteorder("<"))
    return f"{dtype}:{base64.b64encode(data.tobytes()).decode('ascii')}"


def _sides(sides: SparseSides) -> dict[str, str]:
    counts = sides.counts.dtype.str.lstrip("<>|=")
    return {
        "starts": _array(sides.starts, "i8"),
        "index": _array(sides.index, "i4"),
        "counts": _array(sides.counts, counts),
    }


def _within(rows: tuple[Mapping[float, int], ...]) -> dict[str, Any]:
    """Each row's counts at or under each threshold; -1 where a row has no such entry."""
    thresholds = sorted({t for row in rows for t in row})
    counts = np.array([[row.get(t, -1) for t in thresholds] for row in rows], np.int64)
    return {"thresholds": thresholds, "counts": _array(counts.reshape(-1), "i8")}


def read_block(body: Any, path: str, keys: dict[tuple[Any, ...], SeriesKey]) -> REDBlock:
    """A block as :func:`encode_block` wrote it, checked before it is used."""
    if not isinstance(body, dict):
        raise StateError(path, f"expected an object, got {type(body).__name__}")
    series = _read_keys(_field(body, "keys", path), f"{path}.keys", keys)
    if len(set(series)) != len(series):
        raise StateError(f"{path}.keys", "a series is listed twice")
    n = len(series)
    calls = _rows(body, "calls", ("i8",), path, n)
    errors = _rows(body, "errors", ("i8",), path, n)
    if (calls < 0).any() or (errors < 0).any() or (errors > calls).any():
        raise StateError(f"{path}.errors", "calls and errors must be 0 <= errors <= calls")
    histograms = _read_histograms(_field(body, "histograms", path), f"{path}.histograms", n)
    within = None
    if "within" in body:
        within = _read_within(body["within"], f"{path}.within", n)
    return REDBlock(series, calls, errors, histograms, within)


def _read_keys(body: Any, path: str, known: dict[tuple[Any, ...], SeriesKey]) -> list[SeriesKey]:
    """The keys :func:`_keys` wrote (one key object per series across windows)."""
    if not isinstance(body, dict):
        raise StateError(path, f"expected an object, got {type(body).__name__}")
    strings = _field(body, "strings", path)
    if not isinstance(strings, list) or not all(isinstance(x, str) for x in strings):
        raise StateError(f"{path}.strings", "expected a list of strings")
    table = _field(body, "dims_table", path)
    if not isinstance(table, list):
        raise StateError(f"{path}.dims_table", "expected a list")
    dims = [_read_dims(d, f"{path}.dims_table[{i}]", strings) for i, d in enumerate(table)]
    services = _decoded(_field(body, "service", path), ("i4",), f"{path}.service")
    n = services.size
    columns = [services] + [_rows(body, name, ("i4",), path, n) for name in _KEY_COLUMNS]
    for name, ids, size in zip(
        ("service", "operation", "dims"),
        (columns[0], columns[1], columns[3]),
        (len(strings), len(strings), len(dims)),
        strict=True,
    ):
        if n and (ids.min() < 0 or ids.max() >= size):
            raise StateError(f"{path}.{name}", f"ids must be in [0, {size})")
    out = []
    for service, operation, kind, d in zip(*(c.tolist() for c in columns), strict=True):
        found = (strings[service], strings[operation], kind, dims[d])
        key = known.get(found)
        if key is None:
            key = known[found] = SeriesKey(*found)
        out.append(key)
    return out


_KEY_COLUMNS = ("operation", "span_kind", "dims")


def _read_dims(ids: Any, path: str, strings: list[str]) -> tuple[tuple[str, str], ...]:
    if (
        not isinstance(ids, list)
        or len(ids) % 2
        or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(strings) for i in ids
        )
    ):
        raise StateError(path, f"expected name, value pairs of ids in [0, {len(strings)})")
    names = [strings[i] for i in ids]
    return tuple(zip(names[::2], names[1::2], strict=True))


def _read_histograms(body: Any, path: str, n: int) -> HistogramBlock:
    if not isinstance(body, dict):
        raise StateError(path, f"expected an object, got {type(body).__name__}")
    rows = {name: _rows(body, name, (dtype,), path, n) for name, dtype in _ROWS}
    scales = rows["scale"], rows["max_scale"]
    if any(((s < MIN_SCALE) | (s > MAX_SCALE)).any() for s in scales):
        raise StateError(f"{path}.scale", f"scales must be in [{MIN_SCALE}, {MAX_SCALE}]")
    if (rows["max_size"] <= 0).any() or (rows["count"] < 0).any():
        raise StateError(f"{path}.count", "max_size must be > 0 and count >= 0")
    positive = _read_sides(_field(body, "positive", path), f"{path}.positive", n)
    negative = _read_sides(_field(body, "negative", path), f"{path}.negative", n)
    return HistogramBlock(
        rows["scale"],
        rows["max_scale"],
        rows["max_size"],
        rows["zero_count"],
        rows["count"],
        rows["sum"],
        rows["min"],
        rows["max"],
        positive,
        negative,
    )


def _read_sides(body: Any, path: str, n: int) -> SparseSides:
    if not isinstance(body, dict):
        raise StateError(path, f"expected an object, got {type(body).__name__}")
    starts = _rows(body, "starts", ("i8",), path, n + 1)
    index = _decoded(_field(body, "index", path), ("i4",), f"{path}.index")
    counts = _decoded(_field(body, "counts", path), _COUNT_DTYPES, f"{path}.counts")
    if starts[0] != 0 or (np.diff(starts) < 0).any() or starts[-1] != index.size:
        raise StateError(f"{path}.starts", f"must rise from 0 to {index.size} (the buckets)")
    if counts.size != index.size or (counts <= 0).any():
        raise StateError(f"{path}.counts", f"expected {index.size} counts, each > 0")
    return SparseSides(starts, index, counts)


def _read_within(body: Any, path: str, n: int) -> tuple[Mapping[float, int], ...]:
    if not isinstance(body, dict):
        raise StateError(path, f"expected an object, got {type(body).__name__}")
    thresholds = _field(body, "thresholds", path)
    if not isinstance(thresholds, list) or not all(
        isinstance(t, (int, float)) and not isinstance(t, bool) for t in thresholds
    ):
        raise StateError(f"{path}.thresholds", "expected a list of numbers")
    counts = _rows(body, "counts", ("i8",), path, n * len(thresholds))
    table = counts.reshape(n, len(thresholds)).tolist()
    return tuple(
        {float(t): c for t, c in zip(thresholds, row, strict=True) if c >= 0} or NO_WITHIN
        for row in table
    )


def _field(body: dict[str, Any], name: str, path: str) -> Any:
    if name not in body:
        raise StateError(f"{path}.{name}", "missing")
    return body[name]


def _rows(body: dict[str, Any], name: str, dtypes: tuple[str, ...], path: str, n: int) -> Any:
    values = _decoded(_field(body, name, path), dtypes, f"{path}.{name}")
    if values.size != n:
        raise StateError(f"{path}.{name}", f"expected {n} values, got {values.size}")
    return values


def _decoded(text: Any, dtypes: tuple[str, ...], path: str) -> NDArray[Any]:
    """An array written ``"<dtype>:<base64>"`` (little-endian), as a native array."""
    if not isinstance(text, str) or ":" not in text:
        raise StateError(path, 'expected "<dtype>:<base64>"')
    dtype, _, data = text.partition(":")
    if dtype not in dtypes:
        raise StateError(path, f"dtype {dtype!r} is not one of {', '.join(dtypes)}")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise StateError(path, f"not base64: {exc}") from None
    little = np.dtype(dtype).newbyteorder("<")
    if len(raw) % little.itemsize:
        raise StateError(path, f"{len(raw)} bytes is not a whole number of {dtype} values")
    return np.frombuffer(raw, little).astype(np.dtype(dtype), copy=True)
