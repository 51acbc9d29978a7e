"""Span metrics' saved state: the open intervals and rollups as blocks of columns.

Version 3 (this code) saves each open window as a :class:`~otel_perf.rollups.REDBlock`:
its series keys as one list, and calls, errors, ``within`` and the histograms' columns
(:class:`~otel_perf.histogram.block.HistogramBlock`) as little-endian arrays in base64,
each written ``"<dtype>:<base64>"``; not an object per series. The document::

    {"version": 3, "watermark_ns": N,
     "open": [[start_ns, block], ...],                  # the base intervals
     "rollups": [[[start_ns, block], ...], [...]]}      # 1 min, then 1 h

A document written before versions (``rollups_version`` 2, or none: one object per
series, ``RED.to_dict``) is still read. Each window is read on its own: a window that
does not fit is left out with a :class:`~otel_perf.codec.StateError` naming where and
what (``$.rollups[1][0].histograms.positive.starts: ...``), the others are restored.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from otel_perf.codec import StateError
from otel_perf.histogram.block import HistogramBlock, SparseSides
from otel_perf.histogram.mapping import MAX_SCALE, MIN_SCALE
from otel_perf.rollups import REDBlock
from otel_perf.series import NO_WITHIN, RED, SeriesKey

VERSION = 3
log = logging.getLogger("otel_perf.processors.spanmetrics")

Windows = Mapping[int, Mapping[SeriesKey, RED]]
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


# -- writing ---------------------------------------------------------------------------
def document(
    watermark_ns: int, open_windows: Windows, rollups: Sequence[Windows]
) -> dict[str, Any]:
    """The version 3 document of the open base intervals and rollup windows."""
    return {
        "version": VERSION,
        "watermark_ns": watermark_ns,
        "open": _windows(open_windows),
        "rollups": [_windows(r) for r in rollups],
    }


def _windows(windows: Windows) -> list[Any]:
    return [[start, encode_block(REDBlock.of(values))] for start, values in windows.items()]


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


def legacy_document(
    watermark_ns: int, open_windows: Windows, rollups: Sequence[Windows]
) -> dict[str, Any]:
    """The document versions before 3 wrote (an object per series): what
    ``benchmarks.flush`` compares with and the tests restore from."""

    def dump(windows: Windows) -> list[Any]:
        return [
            [start, [[key.to_dict(), red.to_dict()] for key, red in values.items()]]
            for start, values in windows.items()
        ]

    return {
        "watermark_ns": watermark_ns,
        "open": dump(open_windows),
        "rollups": [dump(r) for r in rollups],
        "rollups_version": 2,
    }


# -- reading ---------------------------------------------------------------------------
@dataclass
class Restored:
    """What a saved document gives back; ``problems`` names each window left out."""

    watermark_ns: int
    open: dict[int, dict[SeriesKey, RED]] = field(default_factory=dict)
    rollups: list[dict[int, Mapping[SeriesKey, RED]]] = field(default_factory=list)
    legacy: bool = False  # written before version 3
    rollups_version: int | None = None  # of a document written before version 3
    problems: list[StateError] = field(default_factory=list)


def restore(state: Any, rollups: int) -> Restored:
    """The windows of a saved document (any version this code has written).

    Raises:
        StateError: when the document as a whole cannot be read (its watermark or layout).
    """
    if not isinstance(state, dict):
        raise StateError("$", f"expected an object, got {type(state).__name__}")
    version = state.get("version")
    if version is not None and version != VERSION:
        raise StateError("$.version", f"{version!r} is not a version this build reads")
    watermark = state.get("watermark_ns")
    if not isinstance(watermark, int) or isinstance(watermark, bool) or watermark < 0:
        raise StateError("$.watermark_ns", f"expected a whole number >= 0, got {watermark!r}")
    read = _read_block if version == VERSION else _read_legacy
    out = Restored(watermark, legacy=version is None, rollups_version=state.get("rollups_version"))
    keys: dict[tuple[Any, ...], SeriesKey] = {}  # one key object per series across windows
    opened = _read_windows(state.get("open", []), "$.open", read, keys, out.problems)
    out.open = {start: dict(values.items()) for start, values in opened.items()}
    bodies = state.get("rollups", [])
    if not isinstance(bodies, list):
        raise StateError("$.rollups", f"expected a list, got {type(bodies).__name__}")
    for i in range(rollups):
        body = bodies[i] if i < len(bodies) else []
        out.rollups.append(_read_windows(body, f"$.rollups[{i}]", read, keys, out.problems))
    return out


Reader = Callable[[Any, str, dict[tuple[Any, ...], SeriesKey]], Mapping[SeriesKey, RED]]


def _read_windows(
    body: Any,
    path: str,
    read: Reader,
    keys: dict[tuple[Any, ...], SeriesKey],
    problems: list[StateError],
) -> dict[int, Mapping[SeriesKey, RED]]:
    if not isinstance(body, list):
        problems.append(StateError(path, f"expected a list, got {type(body).__name__}"))
        return {}
    out: dict[int, Mapping[SeriesKey, RED]] = {}
    for i, window in enumerate(body):
        at = f"{path}[{i}]"
        try:
            if not isinstance(window, list) or len(window) != 2:
                raise StateError(at, "expected [start_ns, series]")
            start = window[0]
            if not isinstance(start, int) or isinstance(start, bool):
                raise StateError(f"{at}[0]", f"expected a whole number, got {start!r}")
            out[start] = read(window[1], f"{at}[1]", keys)
        except StateError as exc:
            problems.append(exc)
    return out


def _read_legacy(
    body: Any, path: str, keys: dict[tuple[Any, ...], SeriesKey]
) -> dict[SeriesKey, RED]:
    """A window as versions before 3 wrote it: ``[[key.to_dict(), red.to_dict()], ...]``."""
    if not isinstance(body, list):
        raise StateError(path, f"expected a list, got {type(body).__name__}")
    out: dict[SeriesKey, RED] = {}
    for i, pair in enumerate(body):
        at = f"{path}[{i}]"
        try:
            k, red = pair
            dims = [x for item in k["dims"].items() for x in item]
            key = _key([k["service"], k["operation"], k["span_kind"], dims], f"{at}[0]", keys)
            out[key] = RED.from_dict(red)
        except StateError as exc:
            if exc.path.startswith(at):  # the key's own problem
                raise
            raise StateError(f"{at}[1]{exc.path.removeprefix('$')}", exc.problem) from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StateError(at, f"not a saved series: {exc!r}") from None
    return out


def _key(raw: Any, path: str, keys: dict[tuple[Any, ...], SeriesKey]) -> SeriesKey:
    if not isinstance(raw, list) or len(raw) != 4:
        raise StateError(path, "expected [service, operation, span_kind, dims]")
    service, operation, kind, dims = raw
    if not isinstance(service, str) or not isinstance(operation, str):
        raise StateError(path, "service and operation must be strings")
    if not isinstance(kind, int) or isinstance(kind, bool):
        raise StateError(path, f"span_kind must be a whole number, got {kind!r}")
    if not isinstance(dims, list) or len(dims) % 2 or not all(isinstance(x, str) for x in dims):
        raise StateError(path, "dims must be a list of name, value strings")
    pairs = tuple(zip(dims[::2], dims[1::2], strict=True))
    found = keys.get((service, operation, kind, pairs))
    if found is None:
        found = keys[(service, operation, kind, pairs)] = SeriesKey(service, operation, kind, pairs)
    return found


def _read_block(body: Any, path: str, keys: dict[tuple[Any, ...], SeriesKey]) -> REDBlock:
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
