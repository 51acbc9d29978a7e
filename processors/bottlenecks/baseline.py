"""What is normal for each item, learnt window by window, so that "expected" is not a finding.

A baseline is an exponentially weighted mean of one figure per window (a query's median,
an operation's critical-path ms per request of one entry). A window where the figure
departed from its baseline by ``regression_ratio`` or more does not teach it: a slowdown
stays a slowdown until it is fixed, rather than becoming the new normal after a few
windows. The map is bounded; the least recently updated items are forgotten first.
Baselines are saved with the processor's state (``to_dict`` / ``restore``), so a restart
does not forget what is normal.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from otel_perf.processors.bottlenecks.aggregate import NS, Window


@dataclass(slots=True)
class Baseline:
    """One item's normal value and how many windows taught it."""

    value: float
    windows: int = 1


class Baselines:
    """Normal values by key: ``expected(key)`` once ``min_windows`` windows taught it.

    Args:
        min_windows: windows an item needs before its baseline is trusted.
        regression_ratio: a window at or above this multiple of the baseline does not
            update it.
        alpha: weight of the newest window in the mean.
        max_items: items remembered.
    """

    def __init__(
        self, min_windows: int, regression_ratio: float, alpha: float = 0.3, max_items: int = 20_000
    ) -> None:
        self.min_windows = min_windows
        self.regression_ratio = regression_ratio
        self.alpha = alpha
        self.max_items = max_items
        self._items: OrderedDict[Hashable, Baseline] = OrderedDict()
        self.dirty = False  # changed since the last to_dict()

    def __len__(self) -> int:
        return len(self._items)

    def expected(self, key: Hashable) -> float | None:
        """The baseline of ``key``, None while it is unknown or still learning."""
        found = self._items.get(key)
        return found.value if found is not None and found.windows >= self.min_windows else None

    def learn_one(self, key: Hashable, value: float) -> None:
        """Teach ``key`` one window's value (ignored when it is a regression)."""
        found = self._items.get(key)
        self.dirty = True
        if found is None:
            self._items[key] = Baseline(value)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
            return
        trusted = found.windows >= self.min_windows
        if trusted and found.value > 0 and value >= self.regression_ratio * found.value:
            return
        found.value += self.alpha * (value - found.value)
        found.windows += 1
        self._items.move_to_end(key)

    def learn_window(self, window: Window) -> None:
        """Teach every item of a closed window: cells, queries and entries."""
        for entry_key, entry in window.entries.items():
            if not entry.traces:
                continue
            self.learn_one(("entry", entry_key), entry.latency_s.quantile(0.95))
            for op, ns in entry.shares.items():
                self.learn_one(("cell", entry_key, op), ns / entry.traces / NS)
        for route_key, slow in window.slow.items():
            if slow.requests:
                self.learn_one(("route", route_key), slow.latency_s.quantile(0.95))
        for query_key, query in window.queries.items():
            if query.latency_s.count:
                self.learn_one(("query", query_key), query.latency_s.quantile(0.5))

    def to_dict(self) -> dict[str, Any]:
        """Every baseline, least recently updated first, for the store."""
        self.dirty = False
        return {"items": [[key, b.value, b.windows] for key, b in self._items.items()]}

    def restore(self, data: Any) -> None:
        """Take back what :meth:`to_dict` saved; entries that do not parse are skipped."""
        if not isinstance(data, dict):
            return
        for entry in data.get("items", [])[-self.max_items :]:
            try:
                key, value, windows = entry
                self._items[_tuples(key)] = Baseline(float(value), int(windows))
            except (TypeError, ValueError):  # saved by another version: forget it
                continue


def _tuples(value: Any) -> Any:
    """JSON lists back into the tuples the keys were."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value
