"""The processor's windows and assembly progress as one state document in the store.

A restart would otherwise forget the window being filled (so its open findings
resolve at the next evaluation and open again later) and the traces already analysed
(so their late spans come back as fragments with a fake root). What is saved:

* the last closed window and the one filling now, every bounded map as it is in
  memory (same ``max_*`` limits: a saved map is never larger than the live one), the
  histograms in their compact form and values still deferred recorded into a copy;
* the ids of the traces analysed recently (at most ``max_traces``, as in memory);
* the progress counters of :meth:`BottlenecksProcessor.snapshot`.

A document saved by another version, or damaged, does not load: the processor starts
empty, logs it once and counts it (``state_discarded``).
"""

from __future__ import annotations

import logging
from dataclasses import fields, is_dataclass
from typing import Any, Literal

from pydantic import BaseModel

from otel_perf.histogram import ExponentialHistogram
from otel_perf.processors.bottlenecks.aggregate import (
    MAX_ENTRY_SHARES,
    MAX_ROUTES_PER_ITEM,
    Bounded,
    EntryStats,
    Exemplars,
    MemoryStats,
    OpStats,
    PatternStats,
    QueryStats,
    SlowStats,
    Window,
)

log = logging.getLogger("otel_perf.processors.bottlenecks")
VERSION = 1
#: each bounded map of a window and the type of its values
MAPS: dict[str, type[Any]] = {
    "ops": OpStats,
    "entries": EntryStats,
    "queries": QueryStats,
    "patterns": PatternStats,
    "slow": SlowStats,
    "phases": ExponentialHistogram,
    "memory": MemoryStats,
}
#: the most entries a nested field holds in memory (a saved one past it is damaged)
NESTED = {"routes": MAX_ROUTES_PER_ITEM, "shares": MAX_ENTRY_SHARES, "cells": MAX_ENTRY_SHARES}
MAX_EXEMPLARS = 20  # the config's bound on ``exemplars``
MAX_PATH = 5  # contributors in a slow request's ``worst_path`` (``critical_path.summarise``)


class SavedState(BaseModel):
    """The document: windows as :func:`window_to_dict` gives them, trace ids in hex."""

    version: Literal[1]
    previous: dict[str, Any] | None
    current: dict[str, Any] | None
    done: list[str]
    counters: dict[str, int]


def window_to_dict(window: Window) -> dict[str, Any]:
    """``window`` in JSON-ready form; values it still defers are recorded into copies."""
    body: dict[str, Any] = {
        "start_ns": window.start_ns,
        "traces": window.traces,
        "critical_total_ns": window.critical_total_ns,
    }
    for name in MAPS:
        bounded: Bounded[Any, Any] = getattr(window, name)
        items = [[list(key), _encode(value, window)] for key, value in bounded.items()]
        body[name] = {"overflowed": bounded.overflowed, "items": items}
    return body


def window_from_dict(body: dict[str, Any], template: Window) -> Window:
    """The window :func:`window_to_dict` saved, with ``template``'s bounds (the config's
    now); items past a bound are dropped and counted as overflowed.

    Raises:
        KeyError, TypeError, ValueError: on a document that does not fit.
    """
    window = Window(
        int(body["start_ns"]),
        template.max_operations,
        template.max_fingerprints,
        template.max_routes,
        template.exemplars,
        int(body["traces"]),
        int(body["critical_total_ns"]),
    )
    for name, kind in MAPS.items():
        bounded: Bounded[Any, Any] = getattr(window, name)
        saved = body[name]
        bounded.overflowed = int(saved["overflowed"])
        for key, value in saved["items"]:
            if len(bounded) < bounded.limit:
                bounded[tuple(str(k) for k in key)] = _decode(kind, value)
            else:
                bounded.overflowed += 1
    return window


def _encode(value: Any, window: Window) -> Any:
    if isinstance(value, ExponentialHistogram):
        return window.recorded(value).to_dict()
    if isinstance(value, Exemplars):
        return [value.size, [[w, t] for w, t in value.heap]]
    if isinstance(value, dict):
        return [[list(k), _encode(v, window)] for k, v in value.items()]
    if is_dataclass(value):
        return {f.name: _encode(getattr(value, f.name), window) for f in fields(value)}
    return value


def _decode(kind: Any, value: Any) -> Any:
    if kind is ExponentialHistogram:
        return ExponentialHistogram.from_dict(value)
    if kind is Exemplars:
        size, heap = value
        if not 0 < int(size) <= MAX_EXEMPLARS or len(heap) > int(size):
            raise ValueError(f"exemplars: {len(heap)} of {size}, at most {MAX_EXEMPLARS}")
        return Exemplars(int(size), [(int(w), str(t)) for w, t in heap])
    if not isinstance(value, dict):
        raise TypeError(f"expected an object for {kind.__name__}, got {type(value).__name__}")
    return kind(**{f.name: _field(f.name, str(f.type), value[f.name]) for f in fields(kind)})


def _field(name: str, annotation: str, value: Any) -> Any:
    """A dataclass field from its saved form, by its annotation (a string here).

    Raises:
        ValueError: a nested map or list longer than the live one can be.
    """
    limit = NESTED.get(name, MAX_PATH)
    if isinstance(value, list) and len(value) > limit:
        raise ValueError(f"{name}: {len(value)} items, at most {limit}")
    if annotation == "ExponentialHistogram":
        return ExponentialHistogram.from_dict(value)
    if annotation == "Exemplars":
        return _decode(Exemplars, value)
    if annotation == "dict[OpKey, int]":
        return {_key(k): int(v) for k, v in value}
    if annotation == "dict[OpKey, Exemplars]":
        return {_key(k): _decode(Exemplars, v) for k, v in value}
    if annotation == "int":
        return int(value)
    if annotation == "str":
        return str(value)
    if annotation == "list[dict[str, Any]]":
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise TypeError("expected a list of objects")
        return value
    raise TypeError(f"no saved form for a field of type {annotation}")


def _key(key: Any) -> tuple[str, str]:
    service, operation = key
    return str(service), str(operation)


def discarded(component: str, error: Exception) -> None:
    """Log once that a saved document did not fit (the caller counts it)."""
    log.warning("%s: saved windows do not fit this version, starting empty: %s", component, error)
