"""Episodes: one open/update/resolve mechanism per key, with hysteresis, bounded.

An episode opens once its key has breached ``open_after`` evaluations in a row, is updated
while it goes on, and resolves once ``resolve_after`` evaluations in a row have passed
without it — so one spike does not open an episode and one quiet evaluation does not end
an outage. At most ``max_keys`` episodes are open; past that the least recently updated is
forgotten and counted in ``dropped``. What an episode carries (the finding last said, its
severity, a score) is the caller's payload ``P``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection
from typing import Generic, TypeVar

P = TypeVar("P")


class Episodes(Generic[P]):
    """Open episodes by key, oldest update first.

    >>> episodes = Episodes[str](max_keys=10, open_after=2, resolve_after=2)
    >>> episodes.breach("db"), episodes.breach("db")
    (False, True)
    >>> episodes.put("db", "slow"); episodes.sweep([]), episodes.sweep([])
    ([], [('db', 'slow')])
    """

    def __init__(self, max_keys: int, open_after: int = 1, resolve_after: int = 1) -> None:
        if max_keys < 1 or open_after < 1 or resolve_after < 1:
            raise ValueError(
                f"episodes need max_keys, open_after and resolve_after >= 1, got "
                f"{max_keys}, {open_after}, {resolve_after}"
            )
        self.max_keys = max_keys
        self.open_after = open_after
        self.resolve_after = resolve_after
        self._open: OrderedDict[str, P] = OrderedDict()
        self._breaching: OrderedDict[str, int] = OrderedDict()  # streaks of keys not yet open
        self._quiet: dict[str, int] = {}  # streaks of open keys absent from evaluations
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._open)

    def get(self, key: str) -> P | None:
        """The open episode's payload, or None."""
        return self._open.get(key)

    def items(self) -> list[tuple[str, P]]:
        """Open episodes, least recently updated first."""
        return list(self._open.items())

    def breach(self, key: str) -> bool:
        """Count one evaluation in which ``key`` breaches; True once its episode may be open
        (``open_after`` in a row), when the caller :meth:`put` s it."""
        self._quiet.pop(key, None)
        if key in self._open:
            return True
        streak = self._breaching.pop(key, 0) + 1
        if streak >= self.open_after:
            return True
        self._breaching[key] = streak
        while len(self._breaching) > self.max_keys:
            self._breaching.popitem(last=False)
        return False

    def put(self, key: str, payload: P) -> None:
        """Open or update ``key``'s episode (it becomes the most recently updated)."""
        self._open[key] = payload
        self._open.move_to_end(key)
        while len(self._open) > self.max_keys:
            dropped, _ = self._open.popitem(last=False)
            self._quiet.pop(dropped, None)
            self.dropped += 1

    def sweep(self, present: Collection[str]) -> list[tuple[str, P]]:
        """End an evaluation in which only ``present`` breached: the open episodes absent
        ``resolve_after`` times in a row resolve (returned, oldest first, and forgotten);
        a breach streak not yet open is broken by one absence."""
        resolved: list[tuple[str, P]] = []
        for key in [k for k in self._open if k not in present]:
            streak = self._quiet.get(key, 0) + 1
            if streak < self.resolve_after:
                self._quiet[key] = streak
                continue
            self._quiet.pop(key, None)
            resolved.append((key, self._open.pop(key)))
        for key in [k for k in self._breaching if k not in present]:
            del self._breaching[key]
        return resolved
