"""The burn-down: budget remaining over the window to date, from the kept minute counts."""

from __future__ import annotations

import pytest

from otel_perf.processors.slo.history import budget_history
from otel_perf.processors.slo.windows import MINUTE_NS, MinuteCounts

START = 28_000_000  # a minute number (event time)


def test_points_cover_the_data_and_end_at_the_current_budget() -> None:
    counts = MinuteCounts()
    for minute in range(START, START + 600):
        bad = 2 if minute >= START + 300 else 0  # the second half burns
        counts.add(minute, 100 - bad, 100)
    now = START + 599
    points = budget_history(counts, now - 30 * 1440 + 1, now, 0.99, timeslices=False)
    assert 60 <= len(points) <= 120
    assert points[0]["error_budget_remaining"] == 1.0
    assert points[0]["time_ns"] <= (START + 60) * MINUTE_NS  # starts where the data starts
    last = points[-1]
    assert last["time_ns"] == (now + 1) * MINUTE_NS and last["total"] == 60_000
    # 600 bad of 60 000 events against a 1 % budget: exactly spent
    assert last["error_budget_remaining"] == pytest.approx(0.0, abs=1e-9)
    remaining = [p["error_budget_remaining"] for p in points]
    assert remaining == sorted(remaining, reverse=True)


def test_no_data_no_points() -> None:
    assert budget_history(MinuteCounts(), START, START + 10, 0.99, timeslices=False) == []
    counts = MinuteCounts()
    counts.advance(START)
    assert budget_history(counts, START - 100, START, 0.99, timeslices=True) == []
