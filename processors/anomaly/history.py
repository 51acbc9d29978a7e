"""The last scored points of one series, for the dashboard: a fixed-size ring buffer.

Each entry is ``(t_ns, value, lower, upper, score)``: the point, the expected band it was
judged against (before it was learned) and its score. The columns are flat ``array`` buffers
(8 bytes a number, 40 bytes a point; a deque of tuples costs ~200) that grow with the points
until ``capacity`` and are then written round-robin, so a series holds at most ``capacity``
points whatever its traffic, and a series with few points holds only those (thousands of
series at a few points each are the common case at high cardinality).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator
from typing import Any

NS = 1_000_000_000

Entry = tuple[int, float, float, float, float]


class History:
    """Ring buffer of the last ``capacity`` scored points of one series."""

    __slots__ = ("capacity", "times_ns", "numbers", "head", "count")  # one a series

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError(f"history capacity must be > 0, got {capacity}")
        self.capacity = capacity
        self.times_ns = array("q")
        # value, lower, upper, score of slot i at 4i .. 4i+3
        self.numbers = array("d")
        self.head = 0  # the slot written next
        self.count = 0

    def append(self, t_ns: int, value: float, lower: float, upper: float, score: float) -> None:
        """Record one scored point; the oldest is overwritten when the buffer is full."""
        slot = self.head
        if slot == len(self.times_ns):  # still filling: the buffers grow to ``capacity``
            self.times_ns.append(t_ns)
            self.numbers.extend((value, lower, upper, score))
            self._advance(slot)
            return
        self.times_ns[slot] = t_ns
        numbers, base = self.numbers, 4 * slot
        numbers[base] = value
        numbers[base + 1] = lower
        numbers[base + 2] = upper
        numbers[base + 3] = score
        self._advance(slot)

    def _advance(self, slot: int) -> None:
        self.head = slot + 1 if slot + 1 < self.capacity else 0
        if self.count < self.capacity:
            self.count += 1

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Entry]:
        """The entries, oldest first."""
        first = (self.head - self.count) % self.capacity
        for k in range(self.count):
            slot = (first + k) % self.capacity
            value, lower, upper, score = self.numbers[4 * slot : 4 * slot + 4]
            yield self.times_ns[slot], value, lower, upper, score

    def view(self) -> list[dict[str, float]]:
        """JSON-ready points, oldest first; ``t`` in epoch seconds.

        Entries with a non-finite number (an overflowed variance) are left out, so every
        number in the answer is finite.
        """
        return [
            {"t": t_ns / NS, "value": value, "lower": lower, "upper": upper, "score": score}
            for t_ns, value, lower, upper, score in self
            if _finite(value, lower, upper, score)
        ]

    def to_list(self) -> list[list[float]]:
        """Compact JSON-ready state: one ``[t_ns, value, lower, upper, score]`` per entry."""
        return [list(entry) for entry in self if _finite(*entry[1:])]

    def restore(self, rows: list[Any]) -> None:
        """Replace the entries with saved ``rows`` (the newest ``capacity`` are kept)."""
        self.head = self.count = 0
        self.times_ns, self.numbers = array("q"), array("d")
        for row in rows[-self.capacity :]:
            t_ns, value, lower, upper, score = row
            self.append(int(t_ns), float(value), float(lower), float(upper), float(score))


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)
