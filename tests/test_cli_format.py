"""Times, durations and sizes as the CLI writes them."""

from __future__ import annotations

import pytest

from otel_perf.cli.format import duration_ms, duration_s, local_iso, size_bytes, when

S = 10**9
NOW = 1_800_000_000 * S


@pytest.mark.parametrize(
    ("age_s", "text"),
    [(0.2, "just now"), (42, "42 s ago"), (180, "3 min ago"), (3900, "1 h 5 min ago")],
)
def test_recent_times_are_relative(age_s: float, text: str) -> None:
    assert when(NOW - int(age_s * S), NOW) == text


def test_older_times_are_local_iso_8601() -> None:
    old = NOW - 2 * 86_400 * S
    assert when(old, NOW) == local_iso(old)
    assert local_iso(old)[10] == "T" and local_iso(old)[-6] in "+-"


def test_future_and_missing_times() -> None:
    assert when(NOW + 120 * S, NOW) == "in 2 min"
    assert when(0, NOW) == when(None, NOW) == "-"


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0.0123, "12.3 µs"),
        (0.85, "850 µs"),
        (12.34, "12.3 ms"),
        (2500, "2.5 s"),
        (180_000, "3 min"),
        (7_200_000, "2 h"),
        (-5, "-5 ms"),
        (None, "-"),
    ],
)
def test_durations_have_units(ms: float | None, text: str) -> None:
    assert duration_ms(ms) == text


def test_seconds_and_bytes() -> None:
    assert duration_s(0.25) == "250 ms"
    assert [size_bytes(v) for v in (512, 1536, 1536 * 1024, 3 * 1024**3)] == [
        "512 B",
        "1.5 KiB",
        "1.5 MiB",
        "3 GiB",
    ]
