"""Span metrics' saved state: the open intervals and rollups as blocks of columns.

Version 3 (this code) saves each open window as a :class:`~otel_perf.rollups.REDBlock`
(:mod:`~otel_perf.processors.spanmetrics.blocks`: the keys as id columns, every other
column as a little-endian array in base64), not an object per series. The document::

    {"version": 3, "watermark_ns": N,
     "open": [[start_ns, block], ...],                  # the base intervals
     "rollups": [[[start_ns, block], ...], [...]]}      # 1 min, then 1 h

A document written before versions (``rollups_version`` 2, or none: one object per
series, ``RED.to_dict``) is still read. Each window is read on its own: a window that
does not fit is left out with a :class:`~otel_perf.codec.StateError` naming where and
what (``$.rollups[1][0][1].histograms.positive.starts: ...``), the others are restored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from otel_perf.codec import StateError
from otel_perf.processors.spanmetrics.blocks import encode_block, read_block
from otel_perf.rollups import REDBlock
from otel_perf.series import RED, SeriesKey

VERSION = 3

Windows = Mapping[int, Mapping[SeriesKey, RED]]


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
    read = read_block if version == VERSION else _read_legacy
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
