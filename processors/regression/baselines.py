"""Baselines: a named reference distribution of latency samples (milliseconds).

A baseline keeps an :class:`ExponentialHistogram` of every sample it was built from (for
quantiles at any size), a summary, and a bounded reservoir of raw samples for the rank
test. Reservoirs are Vitter's algorithm R; the slot of the ``k``-th value is drawn by a
counter-based hash of ``(seed, k)`` (SplitMix64), so the same input always keeps the same
samples and a reservoir holds one integer of generator state, not a ``random.Random``
(Mersenne Twister state: 20,000 of them took 55.4 MiB under tracemalloc, 20,000 empty
reservoirs now 3.1 MiB).
"""

from __future__ import annotations

import math
import statistics
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from otel_perf.histogram import ExponentialHistogram
from otel_perf.processors.regression.saved import SavedBaseline

QUANTILES = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
_MASK64 = (1 << 64) - 1
VECTOR_MIN = 64  # past a full reservoir, fewer values than this are added one by one


def splitmix64(x: int) -> int:
    """SplitMix64's output function (Steele et al. 2014): a 64-bit hash of ``x`` whose outputs
    over consecutive ``x`` pass BigCrush, used as a counter-based random number generator."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def splitmix64_array(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """:func:`splitmix64` of every value (uint64 arithmetic wraps as the masks do)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


class Reservoir:
    """A uniform sample of at most ``size`` values of a stream (algorithm R).

    The ``k``-th value replaces slot ``splitmix64(key ^ k) mod k`` when that is below ``size``
    (``key = splitmix64(seed)``); the modulo's bias is below ``k / 2^64``.
    """

    __slots__ = ("size", "seen", "values", "_key")

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = size
        self.seen = 0
        self.values = array("d")  # 8 bytes a value, not a float object and a list slot
        self._key = splitmix64(seed & _MASK64)

    @property
    def key(self) -> int:
        """The hash of the seed the slots are drawn with."""
        return self._key

    def add(self, value: float) -> None:
        self.seen += 1
        if len(self.values) < self.size:
            self.values.append(value)
            return
        slot = splitmix64(self._key ^ self.seen) % self.seen
        if slot < self.size:
            self.values[slot] = value

    def extend(self, values: Iterable[float]) -> None:
        for value in values:
            self.add(value)

    def add_many(self, values: NDArray[np.float64]) -> None:
        """:meth:`add` of each value in turn, on the whole array at once."""
        room = max(self.size - len(self.values), 0)
        if room:
            self.values.frombytes(np.ascontiguousarray(values[:room], np.float64).tobytes())
            self.seen += min(room, len(values))
            values = values[room:]
        if len(values) < VECTOR_MIN:  # a few values: a loop costs less than the arrays
            for value in values.tolist():
                self.add(value)
            return
        k = np.arange(self.seen + 1, self.seen + 1 + len(values), dtype=np.uint64)
        self.seen += len(values)
        slot = splitmix64_array(np.uint64(self._key) ^ k) % k
        hit = np.flatnonzero(slot < self.size)
        if not hit.size:
            return
        # a later value taking the same slot replaces an earlier one: keep each slot's last
        _, last = np.unique(slot[hit][::-1], return_index=True)
        chosen = hit[::-1][last]
        kept = np.frombuffer(self.values, np.float64)  # a view: writes go to the array
        kept[slot[chosen].astype(np.intp)] = values[chosen]
        del kept  # release the buffer, so the array may grow again


def add_to_reservoirs(pairs: Sequence[tuple[Reservoir, NDArray[np.float64]]]) -> None:
    """:meth:`Reservoir.add_many` of each pair (each reservoir once), the slots of the values
    past full reservoirs drawn in one pass over all of them: a batch adds a few values to
    each of many, where one hash each in Python, or arrays per reservoir, cost more."""
    past: list[tuple[Reservoir, NDArray[np.float64]]] = []
    for reservoir, values in pairs:
        room = max(reservoir.size - len(reservoir.values), 0)
        if room:
            reservoir.add_many(values[:room])
            values = values[room:]
        if len(values):
            past.append((reservoir, values))
    if not past:
        return
    counts = np.array([len(v) for _, v in past])
    starts = np.cumsum(counts) - counts
    seen = np.array([r.seen for r, _ in past], np.uint64)
    keys = np.array([r.key for r, _ in past], np.uint64)
    which = np.repeat(np.arange(len(past)), counts)
    k = seen[which] + (np.arange(counts.sum()) - starts[which]).astype(np.uint64) + np.uint64(1)
    slot = splitmix64_array(keys[which] ^ k) % k
    sizes = np.array([r.size for r, _ in past], np.uint64)
    hits = np.flatnonzero(slot < sizes[which]).tolist()
    for reservoir, values in past:
        reservoir.seen += len(values)
    slots = slot.tolist()
    for at in hits:  # in order: a later value taking a slot replaces an earlier one
        reservoir, values = past[int(which[at])]
        reservoir.values[slots[at]] = float(values[at - int(starts[which[at]])])


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile of ``values`` (not mutated); NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(values: Sequence[float]) -> dict[str, float]:
    """Count, mean, standard deviation, min, p50, p95, p99 and max of ``values``."""
    if not values:
        return {"count": 0}
    out = {
        "count": float(len(values)),
        "mean": statistics.fmean(values),
        "stdev": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }
    for name, q in QUANTILES:
        out[name] = quantile(values, q)
    return out


@dataclass
class Baseline:
    """A named reference distribution (milliseconds) with where and when it came from."""

    name: str
    created_ns: int
    source: str
    histogram: ExponentialHistogram
    samples: list[float] = field(default_factory=list)
    count: int = 0

    @classmethod
    def build(
        cls, name: str, samples: Sequence[float], created_ns: int, source: str, size: int
    ) -> Baseline:
        """A baseline of ``samples``: all of them in the histogram, ``size`` in the reservoir."""
        histogram = ExponentialHistogram()
        for value in samples:
            histogram.record(value)
        reservoir = Reservoir(size, seed=len(samples))
        reservoir.extend(samples)
        return cls(name, created_ns, source, histogram, reservoir.values.tolist(), len(samples))

    @property
    def summary(self) -> dict[str, float]:
        out = summarize(self.samples)
        if self.count:
            out["count"] = float(self.count)
            out["mean"] = self.histogram.mean
            for name, q in QUANTILES:  # the histogram saw every sample, the reservoir some
                out[name] = self.histogram.quantile(q)
        return out

    def view(self) -> dict[str, Any]:
        """JSON-ready description without the raw samples."""
        return {
            "name": self.name,
            "created_ns": self.created_ns,
            "source": self.source,
            "summary": self.summary,
            "reservoir": len(self.samples),
        }

    def saved(self) -> SavedBaseline:
        """The saved document (``saved.py``)."""
        return SavedBaseline(
            name=self.name,
            created_ns=self.created_ns,
            source=self.source,
            histogram=self.histogram.to_dict(),
            samples=self.samples,
            count=self.count,
            summary={k: v if math.isfinite(v) else None for k, v in self.summary.items()},
        )

    @classmethod
    def from_saved(cls, saved: SavedBaseline) -> Baseline:
        """Raises ValueError or KeyError when the histogram does not fit."""
        histogram = ExponentialHistogram.from_dict(saved.histogram)
        return cls(
            saved.name, saved.created_ns, saved.source, histogram, saved.samples, saved.count
        )
