"""The trace ids analysed recently: a bounded set, oldest forgotten first.

Each id is held once as a Python int (a 128-bit trace id is a 44-byte int), in a set for
membership and a deque for age: about 90 bytes an id, where an ``OrderedDict`` of
``bytes`` took about 300 (14 MiB at the default 50,000).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator


class RecentIds:
    """At most ``limit`` ids; adding one past it forgets the oldest."""

    __slots__ = ("_ids", "_order", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._ids: set[int] = set()
        self._order: deque[int] = deque()

    def __contains__(self, trace_id: int) -> bool:
        return trace_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, trace_id: int) -> None:
        if trace_id in self._ids:
            return
        self._ids.add(trace_id)
        self._order.append(trace_id)
        if len(self._order) > self.limit:
            self._ids.discard(self._order.popleft())

    def extend(self, trace_ids: Iterable[int]) -> None:
        ids = trace_ids if isinstance(trace_ids, list) else list(trace_ids)
        known = self._ids
        if len(set(ids)) != len(ids) or not known.isdisjoint(ids):
            for trace_id in ids:
                self.add(trace_id)
            return
        known.update(ids)  # none known, none twice: as adding each in turn
        order = self._order
        order.extend(ids)
        past = len(order) - self.limit
        if past > 0:  # the oldest forgotten, in one step
            known.difference_update([order.popleft() for _ in range(past)])

    def isdisjoint(self, trace_ids: Iterable[int]) -> bool:
        """Whether none of ``trace_ids`` is held."""
        return self._ids.isdisjoint(trace_ids)

    def __iter__(self) -> Iterator[int]:
        """The ids, oldest first."""
        return iter(self._order)
