"""Latency samples per (service, version, operation) and the comparisons a new version asks for.

When a service shows a ``service.version`` not seen before, every operation the previous
version served is due a comparison: the last ``window`` samples of the old version against
the first ``window`` of the new one. A comparison is ready once the new version has its
``window`` samples (or at the end of input, with what there is).
"""

from __future__ import annotations

import sys
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from otel_perf.processors.regression.saved import SavedSamples, SavedTracker

Early = Callable[["Comparison"], bool]

#: versions kept per (service, operation): the current one and the one before
SEEN_VERSIONS = 64  # versions remembered per service, so stragglers do not switch back
KEPT_VERSIONS = 2
KEPT_RELEASES = 16  # version changes remembered per service, to name the one a change follows


class VersionSamples:
    """The first and the last ``window`` samples (ms) of one version of one operation, with
    the times (ns) they ended at, so versions that ran at once can be compared on their
    overlap (``drift.py``).

    Held in typed arrays (8 bytes a value, not a float object and a list slot; a deque
    alone cost ~600 B), and until more than ``window`` samples came the last ones *are*
    the first ones: the tail is kept apart only from then on.
    """

    __slots__ = ("window", "head", "head_ns", "_tail", "_tail_ns")

    def __init__(
        self,
        window: int,
        head: Iterable[float] = (),
        tail: Iterable[float] | None = None,
        head_ns: Iterable[int] = (),
        tail_ns: Iterable[int] | None = None,
    ) -> None:
        self.window = window
        self.head = array("d", head)
        self.head_ns = array("q", head_ns)
        self._tail: array[float] | None = None
        self._tail_ns: array[int] | None = None
        if tail is not None:
            kept, kept_ns = array("d", tail), array("q", tail_ns if tail_ns is not None else ())
            if kept != self.head or kept_ns != self.head_ns:
                self._tail, self._tail_ns = kept, kept_ns

    @property
    def tail(self) -> array[float]:
        """The last ``window`` samples (ms), oldest first."""
        return self.head if self._tail is None else self._tail

    @property
    def tail_ns(self) -> array[int]:
        """The times (ns) of :attr:`tail`."""
        return self.head_ns if self._tail_ns is None else self._tail_ns

    def add(self, value_ms: float, t_ns: int = 0) -> None:
        if len(self.head) < self.window:
            self.head.append(value_ms)
            self.head_ns.append(t_ns)
            if self._tail is None:
                return
        if self._tail is None or self._tail_ns is None:  # the first sample past the head
            self._tail, self._tail_ns = array("d", self.head), array("q", self.head_ns)
        self._tail.append(value_ms)
        self._tail_ns.append(t_ns)
        if len(self._tail) > self.window:
            del self._tail[0]
            del self._tail_ns[0]

    def extend(self, values_ms: NDArray[np.float64], t_ns: NDArray[np.int64]) -> None:
        """:meth:`add` of each value (and its time) in turn, as array slices (float64 and
        int64 arrays)."""
        room = max(self.window - len(self.head), 0)
        if room:
            self.head.frombytes(values_ms[:room].tobytes())
            self.head_ns.frombytes(t_ns[:room].tobytes())
        if self._tail is None or self._tail_ns is None:
            if len(values_ms) <= room:
                return
            # the first sample past the head: the tail starts as the head
            self._tail, self._tail_ns = array("d", self.head), array("q", self.head_ns)
            values_ms, t_ns = values_ms[room:], t_ns[room:]
        self._tail.frombytes(values_ms.tobytes())
        self._tail_ns.frombytes(t_ns.tobytes())
        extra = len(self._tail) - self.window
        if extra > 0:
            del self._tail[:extra]
            del self._tail_ns[:extra]

    def saved(self) -> SavedSamples:
        return SavedSamples(
            head=self.head.tolist(),
            tail=self.tail.tolist(),
            head_ns=self.head_ns.tolist(),
            tail_ns=self.tail_ns.tolist(),
        )

    @classmethod
    def resumed(cls, window: int, saved: SavedSamples) -> VersionSamples:
        head_ns = saved.head_ns or [0] * len(saved.head)  # saved before times were kept
        tail_ns = saved.tail_ns or [0] * len(saved.tail)
        return cls(window, saved.head, saved.tail, head_ns, tail_ns)


@dataclass(frozen=True)
class Comparison:
    """One operation's samples on both sides of a version change."""

    service: str
    operation: str
    old_version: str
    new_version: str
    old_samples: list[float]
    new_samples: list[float]
    old_ns: list[int] = field(default_factory=list)
    new_ns: list[int] = field(default_factory=list)


class VersionTracker:
    """Samples per (service, operation, version) and the comparisons due."""

    def __init__(self, window: int, max_series: int) -> None:
        self.window = window
        self.max_series = max_series
        self.current: dict[str, str] = {}  # service -> latest version seen
        self.seen: dict[str, dict[str, None]] = {}  # service -> versions seen, oldest first
        self.samples: dict[tuple[str, str], dict[str, VersionSamples]] = {}
        self.operations: dict[str, list[str]] = {}  # service -> its keys in samples
        self.pending: dict[tuple[str, str], tuple[str, str]] = {}  # (svc, op) -> (old, new)
        self.checked: dict[tuple[str, str], int] = {}  # pending key -> new samples last asked
        # service -> (first seen ns, old, new) of its latest version changes
        self.releases: dict[str, deque[tuple[int, str, str]]] = {}
        self.untracked = 0

    def add(
        self, service: str, version: str, operation: str, value_ms: float, t_ns: int = 0
    ) -> None:
        samples = self._samples(service, version, operation, t_ns, 1)
        if samples is not None:
            samples.add(value_ms, t_ns)

    def add_many(
        self,
        service: str,
        version: str,
        operation: str,
        values_ms: NDArray[np.float64],
        t_ns: NDArray[np.int64],
    ) -> None:
        """:meth:`add` of each value in turn, when they are all of one version and nothing
        else comes between them."""
        samples = self._samples(service, version, operation, int(t_ns[0]), len(values_ms))
        if samples is not None:
            samples.extend(values_ms, t_ns)

    def _samples(
        self, service: str, version: str, operation: str, t_ns: int, n: int
    ) -> VersionSamples | None:
        """Where ``n`` samples of ``version`` go, the first at ``t_ns`` (None: untracked)."""
        seen = self.seen.get(service)
        if seen is None:
            if len(self.seen) >= self.max_series:  # services are wire data: bounded too
                self.untracked += n
                return None
            service = sys.intern(service)  # held as long as the service: one copy of its text
            seen = self.seen[service] = {}
        if version not in seen:
            version = sys.intern(version)  # stragglers of an older version do not switch back
            if seen:
                self._new_version(service, self.current[service], version)
                self._record_release(service, self.current[service], version, t_ns)
            self.current[service] = version
            seen[version] = None
            while len(seen) > SEEN_VERSIONS:  # a flapping attribute must not grow this
                del seen[next(iter(seen))]
        versions = self.samples.get((service, operation))
        if versions is None:
            if len(self.samples) >= self.max_series:
                self.untracked += n
                return None
            operation = sys.intern(operation)  # the same on many services: one string
            versions = self.samples[(service, operation)] = {}
            self.operations.setdefault(service, []).append(operation)
        if version not in versions:
            version = sys.intern(version)
            versions[version] = VersionSamples(self.window)
            while len(versions) > KEPT_VERSIONS:
                del versions[next(iter(versions))]  # oldest first: dicts keep insertion order
        return versions[version]

    def _record_release(self, service: str, old: str, new: str, t_ns: int) -> None:
        kept = self.releases.setdefault(service, deque(maxlen=KEPT_RELEASES))
        kept.append((t_ns, old, new))

    def release_near(self, service: str, low_ns: int, high_ns: int) -> dict[str, Any] | None:
        """The latest version change of ``service`` first seen in ``[low_ns, high_ns]``."""
        for t_ns, old, new in reversed(self.releases.get(service, ())):
            if low_ns <= t_ns <= high_ns:
                return {"old_version": old, "new_version": new, "time_s": t_ns / 1e9}
        return None

    def _new_version(self, service: str, old: str, new: str) -> None:
        for (svc, operation), versions in self.samples.items():
            if svc == service and old in versions:
                self.pending[(svc, operation)] = (old, new)

    def ready(self, final: bool = False, early: Early | None = None) -> list[Comparison]:
        """Comparisons whose new side is full (all of them when ``final``, and those for
        which ``early(old_samples, new_samples)`` is true), removed from pending."""
        out: list[Comparison] = []
        for key, (old, new) in list(self.pending.items()):
            versions = self.samples.get(key, {})
            if old not in versions:
                del self.pending[key]
                self.checked.pop(key, None)
                continue
            fresh = versions.get(new)
            if not final and (fresh is None or len(fresh.head) < self.window):
                if not self._called_early(key, versions[old], fresh, early):
                    continue
            del self.pending[key]
            self.checked.pop(key, None)
            out.append(self._comparison(key, old, new, versions[old], fresh))
        return out

    def _comparison(
        self,
        key: tuple[str, str],
        old: str,
        new: str,
        old_samples: VersionSamples,
        fresh: VersionSamples | None,
    ) -> Comparison:
        return Comparison(
            *key,
            old,
            new,
            old_samples.tail.tolist(),
            fresh.head.tolist() if fresh else [],
            old_samples.tail_ns.tolist(),
            fresh.head_ns.tolist() if fresh else [],
        )

    def pairs(
        self, service: str, old: str, new: str
    ) -> dict[str, tuple[Sequence[float], Sequence[float]]]:
        """``operation -> (old tail, new head)`` for the service's operations that have both
        versions (not copied): the control of a before/after comparison (``drift.py``)."""
        out: dict[str, tuple[Sequence[float], Sequence[float]]] = {}
        for operation in self.operations.get(service, ()):
            versions = self.samples[(service, operation)]
            before, after = versions.get(old), versions.get(new)
            if before is not None and after is not None:
                out[operation] = (before.tail, after.head)
        return out

    def _called_early(
        self,
        key: tuple[str, str],
        old: VersionSamples,
        fresh: VersionSamples | None,
        early: Early | None,
    ) -> bool:
        """``early`` on the samples so far, asked again only once new samples arrived."""
        if fresh is None or early is None or self.checked.get(key) == len(fresh.head):
            return False
        self.checked[key] = len(fresh.head)
        return early(self._comparison(key, *self.pending[key], old, fresh))

    def view(self) -> dict[str, Any]:
        return {
            "services": dict(self.current),
            "series": len(self.samples),
            "untracked": self.untracked,
            "pending": [
                {"service": s, "operation": o, "old_version": a, "new_version": b}
                for (s, o), (a, b) in self.pending.items()
            ],
        }

    def saved(self) -> SavedTracker:
        return SavedTracker(
            current=self.current,
            seen={s: list(vs) for s, vs in self.seen.items()},
            samples=[
                (s, o, {v: vs.saved() for v, vs in versions.items()})
                for (s, o), versions in self.samples.items()
            ],
            pending=[(s, o, a, b) for (s, o), (a, b) in self.pending.items()],
        )

    def resume(self, saved: SavedTracker) -> None:
        self.current = dict(saved.current)
        self.seen = {s: dict.fromkeys(vs) for s, vs in saved.seen.items()}
        self.samples = {
            (s, o): {v: VersionSamples.resumed(self.window, d) for v, d in versions.items()}
            for s, o, versions in saved.samples
        }
        self.operations = {}
        for s, o in self.samples:
            self.operations.setdefault(s, []).append(o)
        self.pending = {(s, o): (a, b) for s, o, a, b in saved.pending}
