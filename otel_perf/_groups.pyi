# The C extension otel_perf/_groups.c (built by setup.py; optional).
from typing import Any

def group(
    parts: tuple[Any, ...],
    rows: Any,
    flags: Any,
    first: Any,
    order: Any,
    bounds: Any,
    flagged: Any,
    grouped: Any,
) -> int: ...
def keys(
    parts: tuple[Any, ...],
    tags: tuple[int | None, ...],
    first: Any,
    strings: Any,
    others: Any,
) -> list[tuple[object, ...]]: ...
def reads(
    kind: Any,
    name: Any,
    nonempty: Any,
    decide: tuple[Any, ...],
    reads: tuple[tuple[Any, int], ...],
    name_out: Any,
    kept: Any,
) -> list[int]: ...
