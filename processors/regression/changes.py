"""Change points of each operation's p95 per interval, found incrementally.

One :class:`ChangePointDetector` per (service, operation) over a sliding window of p95
values; a change point is reported with the median level before and after it.
"""

from __future__ import annotations

import statistics
from collections import deque
from typing import Any

from otel_perf.processors.regression.changepoint import ChangePointDetector

NS = 1_000_000_000


class _Series:
    def __init__(self, window: int, every: int, min_size: int) -> None:
        self.detector = ChangePointDetector(window=window, every=every, min_size=min_size)
        self.points: deque[tuple[int, float, float]] = deque(maxlen=window)  # (index, t_s, v)
        self.seen = 0


class ChangeTracker:
    """Detectors per ``"service operation"``; ``observe`` returns newly found change points."""

    def __init__(self, window: int, min_size: int, max_series: int, every: int = 5) -> None:
        self.window, self.min_size, self.every = window, min_size, every
        self.max_series = max_series
        self.series: dict[str, _Series] = {}
        self.untracked = 0

    def observe(
        self, service: str, operation: str, t_ns: int, p95_ms: float
    ) -> list[dict[str, Any]]:
        name = f"{service} {operation}"
        state = self.series.get(name)
        if state is None:
            if len(self.series) >= self.max_series:
                self.untracked += 1
                return []
            state = self.series[name] = _Series(self.window, self.every, self.min_size)
        state.points.append((state.seen, t_ns / NS, p95_ms))
        state.seen += 1
        return [self._describe(name, state, i) for i in state.detector.update(p95_ms)]

    def _describe(self, name: str, state: _Series, index: int) -> dict[str, Any]:
        before = [v for i, _, v in state.points if index - self.window <= i < index]
        after = [v for i, _, v in state.points if i >= index]
        at = next((t for i, t, _ in state.points if i == index), None)
        return {
            "series": name,
            "index": index,
            "time_s": at,
            "before_ms": statistics.median(before[-4 * self.min_size :]) if before else None,
            "after_ms": statistics.median(after) if after else None,
        }

    def history(self, name: str) -> list[tuple[float, float]]:
        """(time_s, p95_ms) points of ``"service operation"`` still in the window."""
        state = self.series.get(name)
        return [] if state is None else [(t, v) for _, t, v in state.points]
