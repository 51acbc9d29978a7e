"""What each finding costs users, as a rate smoothed over evaluation windows.

One window holds a handful of a route's requests (a 5-s window at 10 requests a second,
two of them on a route with 4 % of the traffic), so a cost per minute taken from the last
window alone swings with how many requests happened to land in it, and two findings of
similar cost swap places from one window to the next. Each finding's cost (ms per
window: critical-path time, time saved by batching, time in a query) and the requests it
touched are therefore kept as **time-weighted exponentially weighted means** per finding
key, with half-life ``half_life_s``::

    decay  = 2 ** (-window_s / half_life_s)
    cost  ← decay · cost  + cost_ms(window)        requests ← decay · requests + n(window)
    time  ← decay · time  + window_s
    rate   = cost / time · 60   (ms per minute)    requests_per_min = requests / time · 60

Dividing by the decayed time (not by a constant) makes the first windows an unbiased mean
of what was seen so far, and a window in which the finding was absent still adds its
length (nothing was lost to it then). Keys not seen for ``forget_half_lives`` half-lives
are dropped, and at most ``max_keys`` are kept (the least recently seen go first). The
means are saved with the processor's state (``to_dict`` / ``restore``), so a restart does
not start the ranking over from the stored findings' figures.

>>> rates = ImpactRates(half_life_s=60, max_keys=10)
>>> rates.update(5.0, {"a": (1000.0, 10)})
>>> rates.update(5.0, {"a": (3000.0, 10)})
>>> round(rates.rate("a").ms_per_min)
24309
>>> round(rates.rate("a").requests_per_min)
120
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import astuple, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Rate:
    """A finding's smoothed cost: ms of users' time and requests touched, per minute."""

    ms_per_min: float
    requests_per_min: float
    window_s: float  # the decayed time the means cover

    @property
    def ms_per_request(self) -> float:
        return self.ms_per_min / self.requests_per_min if self.requests_per_min else 0.0

    def to_attributes(self) -> dict[str, float]:
        """The figures a finding carries (``impact_*``)."""
        return {
            "impact_ms_per_min": round(self.ms_per_min, 3),
            "impact_requests_per_min": round(self.requests_per_min, 3),
            "impact_ms_per_request": round(self.ms_per_request, 3),
            "impact_window_s": round(self.window_s, 3),
        }


@dataclass(slots=True)
class _Mean:
    cost_ms: float = 0.0
    requests: float = 0.0
    time_s: float = 0.0
    idle_s: float = 0.0  # time since the key was last seen


class ImpactRates:
    """Smoothed cost rates by finding key (module docstring).

    Args:
        half_life_s: a window this long ago weighs half as much as the newest.
        max_keys: keys remembered; the least recently seen are dropped first.
        forget_half_lives: a key unseen for this many half-lives is dropped.
    """

    def __init__(self, half_life_s: float, max_keys: int, forget_half_lives: float = 8) -> None:
        self.half_life_s = half_life_s
        self.max_keys = max_keys
        self.forget_s = forget_half_lives * half_life_s
        self._means: OrderedDict[str, _Mean] = OrderedDict()
        self.dirty = False  # changed since the last to_dict()

    def __len__(self) -> int:
        return len(self._means)

    def update(self, window_s: float, costs: dict[str, tuple[float, float]]) -> None:
        """Learn one window: ``costs`` maps a finding key to (cost in ms, requests)."""
        decay = 2.0 ** (-window_s / self.half_life_s)
        self.dirty = True
        for key, mean in list(self._means.items()):
            if key in costs:
                continue
            mean.cost_ms *= decay
            mean.requests *= decay
            mean.time_s = mean.time_s * decay + window_s
            mean.idle_s += window_s
            if mean.idle_s >= self.forget_s:
                del self._means[key]
        for key, (cost_ms, requests) in costs.items():
            mean = self._means.get(key) or _Mean()
            mean.cost_ms = mean.cost_ms * decay + max(cost_ms, 0.0)
            mean.requests = mean.requests * decay + max(requests, 0.0)
            mean.time_s = mean.time_s * decay + window_s
            mean.idle_s = 0.0
            self._means[key] = mean
            self._means.move_to_end(key)
        while len(self._means) > self.max_keys:
            self._means.popitem(last=False)

    def rate(self, key: str) -> Rate | None:
        """The smoothed rate of ``key``, None when it is not known."""
        mean = self._means.get(key)
        if mean is None or mean.time_s <= 0:
            return None
        per_min = 60.0 / mean.time_s
        return Rate(mean.cost_ms * per_min, mean.requests * per_min, mean.time_s)

    def to_dict(self) -> dict[str, Any]:
        """Every mean, least recently seen first, for the store."""
        self.dirty = False
        return {"means": [[key, *astuple(mean)] for key, mean in self._means.items()]}

    def restore(self, data: Any) -> None:
        """Take back what :meth:`to_dict` saved; entries that do not parse are skipped."""
        if not isinstance(data, dict):
            return
        for entry in data.get("means", [])[-self.max_keys :]:
            try:
                key, *figures = entry
                self._means[str(key)] = _Mean(*(float(v) for v in figures))
            except (TypeError, ValueError):  # saved by another version: forget it
                continue
