"""Change points of each operation's p95 per interval, found incrementally and described.

One :class:`ChangePointDetector` per series (an entry operation or a statement fingerprint,
``keys.py``) over its p95 per interval. A declared change is described by
:func:`describe.describe_change`: level or slope, before and after, when with an interval;
for a series whose intervals carry their :class:`usage.Usage`, also how it was called before
and after the change (``usage.usage_around``) and whether that changed (``call_change``).
``environment`` gives the service's other series of the same family (entry operations, or
statements) around a change's interval, to judge whether the change was the environment's
(``environment.py``).
"""

from __future__ import annotations

import sys
from array import array
from typing import Any

from otel_perf.processors.regression.changepoint import EVERY, ChangePointDetector
from otel_perf.processors.regression.describe import describe_change
from otel_perf.processors.regression.environment import BEFORE_POINTS, Environment, Pair, judge
from otel_perf.processors.regression.keys import STATEMENT_PREFIX
from otel_perf.processors.regression.usage import Usage, call_change, usage_around

NS = 1_000_000_000


class _Series:
    """One series' detector and its last ``window`` points and usages, row after row in
    typed arrays (a deque alone cost ~600 B, a point as a tuple ~140 B; most series hold a
    few points)."""

    __slots__ = (
        "service",
        "statement",
        "window",
        "detector",
        "_points",
        "_usage",
        "seen",
        "last_change",
    )

    def __init__(
        self, service: str, statement: bool, window: int, every: int, min_size: int
    ) -> None:
        self.service, self.statement, self.window = service, statement, window
        self.detector = ChangePointDetector(window=window, every=every, min_size=min_size)
        self._points = array("d")  # index, t_s, value: the last window
        self._usage = array("d")  # index, executions, traces, total_ms, length_s
        self.seen = 0
        self.last_change = 0  # index where the current segment starts

    def add(self, t_s: float, value: float, usage: Usage | None) -> None:
        _push(self._points, (self.seen, t_s, value), self.window)
        if usage is not None:
            row = (usage.executions, usage.traces, usage.total_ms, usage.length_s)
            _push(self._usage, (self.seen, *row), self.window)
        self.seen += 1

    @property
    def points(self) -> list[tuple[int, float, float]]:
        """(index, t_s, value) of the last ``window`` points, oldest first."""
        p = self._points
        return [(int(p[i]), p[i + 1], p[i + 2]) for i in range(0, len(p), POINT)]

    @property
    def has_usage(self) -> bool:
        return bool(self._usage)

    @property
    def usage(self) -> list[tuple[int, Usage]]:
        """(index, usage) of the last ``window`` intervals that had one, oldest first."""
        u = self._usage
        return [
            (int(u[i]), Usage(int(u[i + 1]), int(u[i + 2]), u[i + 3], u[i + 4]))
            for i in range(0, len(u), USAGE)
        ]


POINT, USAGE = 3, 5  # numbers a row of _Series' arrays


def _push(rows: array[float], row: tuple[float, ...], window: int) -> None:
    """Append ``row``; drop the oldest row past ``window`` rows."""
    rows.extend(row)
    if len(rows) > window * len(row):
        del rows[: len(row)]


class ChangeTracker:
    """Detectors per ``"service operation"``; ``observe`` returns newly declared changes."""

    def __init__(self, window: int, min_size: int, max_series: int, every: int = EVERY) -> None:
        self.window, self.min_size, self.every = window, min_size, every
        self.max_series = max_series
        self.series: dict[str, _Series] = {}
        self.untracked = 0

    def observe(
        self, service: str, operation: str, t_ns: int, p95_ms: float, usage: Usage | None = None
    ) -> list[dict[str, Any]]:
        """Add one interval's p95 (and its usage, when known); returns the changes declared
        with it, described."""
        name = f"{service} {operation}"
        state = self.series.get(name)
        if state is None:
            if len(self.series) >= self.max_series:
                self.untracked += 1
                return []
            statement = operation.startswith(STATEMENT_PREFIX)
            service = sys.intern(service)  # one copy of the text for all its series
            state = _Series(service, statement, self.window, self.every, self.min_size)
            self.series[name] = state
        state.add(t_ns / NS, p95_ms, usage)
        described = []
        for index in state.detector.update(p95_ms):
            point = describe_change(state.points, state.last_change, index, state.seen)
            point["series"] = name
            if state.has_usage:
                point.update(_usage_of(state, index))
            described.append(point)
            state.last_change = index
        return described

    def environment(self, name: str, point: dict[str, Any]) -> Environment | None:
        """Series ``name``'s change ``point`` against the service's other series of its
        family over the same interval (``environment.judge``); None when it cannot say."""
        state = self.series.get(name)
        low, high = point.get("time_low_s"), point.get("time_high_s")
        if state is None or low is None or high is None:
            return None
        others = {
            other: _around(series, low, high)
            for other, series in self.series.items()
            if other != name
            and series.service == state.service
            and series.statement == state.statement
        }
        return judge(_around(state, low, high), others)

    def history(self, name: str) -> list[tuple[float, float]]:
        """(time_s, p95_ms) points of ``"service operation"`` still in the window."""
        state = self.series.get(name)
        return [] if state is None else [(t, v) for _, t, v in state.points]


def _around(state: _Series, low_s: float, high_s: float) -> Pair:
    """p95 points before ``low_s`` (the last ``BEFORE_POINTS``) and from ``high_s`` on."""
    points = state.points
    before = [v for _, t, v in points if t < low_s][-BEFORE_POINTS:]
    return before, [v for _, t, v in points if t >= high_s]


def _usage_of(state: _Series, index: int) -> dict[str, Any]:
    """Usage figures of the segment before ``index`` (since the last change) and after it,
    and ``call_change``: why it is a change of how the series is called (or absent)."""
    usage = state.usage
    before = [u for i, u in usage if state.last_change <= i < index]
    after = [u for i, u in usage if i >= index]
    figures: dict[str, Any] = usage_around(before, after)
    reason = call_change(figures)
    if reason is not None:
        figures["call_change"] = reason
    return figures
