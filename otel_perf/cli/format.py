"""How the CLI writes times, durations and sizes for people: local ISO-8601 or "3 min ago",
"12.3 ms", "1.5 MiB". Pure functions; ``now`` is passed in."""

from __future__ import annotations

from datetime import datetime

from rich.console import Console
from rich.table import Column, Table

_DURATION_UNITS = (("h", 3_600_000.0), ("min", 60_000.0), ("s", 1000.0), ("ms", 1.0))
_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
#: older than this, a time is written as a date rather than "... ago"
RELATIVE_LIMIT_S = 86_400


def when(time_ns: int | None, now_ns: int) -> str:
    """``"3 min ago"`` within a day of ``now_ns``, else the local ISO-8601 time.

    >>> when(1_000 * 10**9, 1_180 * 10**9)
    '3 min ago'
    """
    if not time_ns:
        return "-"
    age_s = (now_ns - time_ns) / 1e9
    if abs(age_s) >= RELATIVE_LIMIT_S:
        return local_iso(time_ns)
    if age_s < 0:
        return f"in {_age(-age_s)}"
    return "just now" if age_s < 1 else f"{_age(age_s)} ago"


def _age(seconds: float) -> str:
    if seconds < 60:
        return f"{int(seconds)} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def local_iso(time_ns: int) -> str:
    """The local time with its UTC offset, to the second: ``2026-12-07T15:04:05+01:00``."""
    return datetime.fromtimestamp(time_ns / 1e9).astimezone().isoformat(timespec="seconds")


def duration_ms(value_ms: float | None) -> str:
    """Milliseconds with a unit that fits: ``"850 µs"``, ``"12.3 ms"``, ``"2.5 s"``, ``"3 min"``.

    >>> duration_ms(0.85), duration_ms(12.34), duration_ms(2500), duration_ms(180_000)
    ('850 µs', '12.3 ms', '2.5 s', '3 min')
    """
    if value_ms is None:
        return "-"
    if value_ms < 0:
        return "-" + duration_ms(-value_ms)
    if value_ms < 1:
        return f"{value_ms * 1000:.3g} µs"
    for unit, size in _DURATION_UNITS:
        if value_ms >= size:
            return f"{value_ms / size:.3g} {unit}"
    return f"{value_ms:.3g} ms"  # not reached: sizes end at 1 ms


def duration_s(value_s: float | None) -> str:
    """Seconds with a unit, as :func:`duration_ms`."""
    return "-" if value_s is None else duration_ms(value_s * 1000)


def size_bytes(value: float | None) -> str:
    """Bytes in binary units: ``"512 B"``, ``"1.5 MiB"``.

    >>> size_bytes(512), size_bytes(1536 * 1024)
    ('512 B', '1.5 MiB')
    """
    if value is None:
        return "-"
    size, unit = float(value), 0
    while abs(size) >= 1024 and unit < len(_BYTE_UNITS) - 1:
        size, unit = size / 1024, unit + 1
    return f"{size:.0f} B" if unit == 0 else f"{size:.3g} {_BYTE_UNITS[unit]}"


def empty(console: Console, what: str, why: str) -> None:
    """Instead of an empty table: what is missing and when it fills."""
    console.print(f"[bold]{what}[/bold]: none yet. {why}")


def folding_table(*headers: str, title: str | None = None) -> Table:
    """A table whose cells wrap (long words fold) instead of being cut with "…"."""
    return Table(*(Column(h, overflow="fold") for h in headers), title=title)
