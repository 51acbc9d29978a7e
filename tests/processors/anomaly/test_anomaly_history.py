"""The ring buffer of scored points behind the snapshot's ``history``."""

from __future__ import annotations

import math

import pytest

from otel_perf.processors.anomaly.history import History

S = 1_000_000_000


def filled(capacity: int, n: int) -> History:
    history = History(capacity)
    for i in range(n):
        history.append(i * S, float(i), i - 1.0, i + 1.0, i / 100)
    return history


def test_keeps_the_newest_points_oldest_first() -> None:
    history = filled(4, 10)
    assert len(history) == 4
    assert [p["value"] for p in history.view()] == [6.0, 7.0, 8.0, 9.0]
    assert history.view()[0] == {"t": 6.0, "value": 6.0, "lower": 5.0, "upper": 7.0, "score": 0.06}


def test_partly_filled() -> None:
    history = filled(4, 2)
    assert [p["t"] for p in history.view()] == [0.0, 1.0]


def test_non_finite_entries_are_left_out() -> None:
    history = filled(4, 2)
    history.append(2 * S, 2.0, -math.inf, math.nan, 0.0)
    assert len(history) == 3 and len(history.view()) == 2 and len(history.to_list()) == 2


def test_round_trip_keeps_nanoseconds_and_the_newest_capacity() -> None:
    history = filled(6, 9)
    rows = history.to_list()
    rows[-1][0] = 1_700_000_000_123_456_789  # beyond a double's integer precision
    smaller = History(3)
    smaller.restore(rows)
    assert list(smaller) == [tuple(r) for r in rows[-3:]]
    assert isinstance(list(smaller)[-1][0], int)


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be > 0, got 0"):
        History(0)


def test_buffers_hold_only_the_points_seen_until_full() -> None:
    history = History(120)
    for i in range(3):
        history.append(i, float(i), 0.0, 1.0, 0.1)
    assert (len(history.times_ns), len(history.numbers)) == (3, 12)
    for i in range(3, 200):
        history.append(i, float(i), 0.0, 1.0, 0.1)
    assert (len(history.times_ns), len(history.numbers)) == (120, 480)
    assert [entry[0] for entry in history] == list(range(80, 200))
    history.restore([[5, 1.0, 0.0, 2.0, 0.3]])
    assert list(history) == [(5, 1.0, 0.0, 2.0, 0.3)]
    assert len(history.times_ns) == 1
