"""The error budget over time (burn-down), read from the counts an objective already keeps.

For each step ``t`` from the start of the SLO window (or the oldest minute kept, if later) to
now, the budget remaining over ``[window start, t)``::

    remaining(t) = 1 − bad[start, t) / ((1 − target) × total[start, t))

so the last point agrees with the objective's current ``error_budget_remaining`` (window to
date). Read-only: nothing is stored beyond :class:`MinuteCounts`, whose precision applies
(edges older than the minute horizon round down to their hour).
"""

from __future__ import annotations

from typing import Any

from otel_perf.processors.slo.budget import error_budget_remaining, sli
from otel_perf.processors.slo.windows import MINUTE_NS, RATIO_SCALE, MinuteCounts

#: points per burn-down at most (a 30-day window in ~6 h steps)
MAX_POINTS = 120


def budget_history(
    counts: MinuteCounts,
    first_minute: int,
    now_minute: int,
    target: float,
    timeslices: bool,
    max_points: int = MAX_POINTS,
) -> list[dict[str, Any]]:
    """Budget remaining at evenly spaced times from ``first_minute`` to ``now_minute``.

    Args:
        counts: the objective's minute counts.
        first_minute: the SLO window's first minute; clamped to the oldest minute kept.
        now_minute: the minute evaluated last (included).
        target: the objective's target.
        timeslices: sum good minutes (Timeslices budgeting) instead of events.
        max_points: the most points returned.

    Returns:
        ``[{"time_ns", "sli", "error_budget_remaining", "total"}]``, oldest first; empty
        before any data.
    """
    if counts.head_minute is None or max_points < 1:
        return []
    stop = now_minute + 1
    start = _first_data(counts, max(first_minute, counts.oldest_minute), stop, max_points)
    if start is None:
        return []
    points = []
    for end in _ends(start, stop, max_points):
        good, total = _range(counts, start, end, timeslices)
        if not total:
            continue
        points.append(
            {
                "time_ns": end * MINUTE_NS,
                "sli": sli(good, total),
                "error_budget_remaining": error_budget_remaining(good, total, target),
                "total": total,
            }
        )
    return points


def _ends(start: int, stop: int, max_points: int) -> list[int]:
    step = max(1, -(-(stop - start) // max_points))
    return list(range(start + step, stop, step)) + [stop]


def _first_data(counts: MinuteCounts, start: int, stop: int, max_points: int) -> int | None:
    """The start of the first coarse step holding events, so the points cover the data only."""
    previous = start
    for end in _ends(start, stop, max_points) if stop > start else []:
        if counts.sum(start, end)[1]:
            return previous
        previous = end
    return None


def _range(counts: MinuteCounts, start: int, end: int, timeslices: bool) -> tuple[float, float]:
    if not timeslices:
        return counts.sum(start, end)
    good, minutes = counts.timeslices(start, end)
    if counts.ratio:
        return good / RATIO_SCALE, minutes
    return good, minutes
