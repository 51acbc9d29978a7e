"""The recent calls of one watched query fingerprint, kept compact.

A watched (service, fingerprint) keeps its last ``max_samples`` calls (1,000 by default) for
up to ``max_fingerprints`` pairs (1,000): a million calls at worst. As ``Call`` objects —
an object, an int, a float and two hex strings each — that was ~280 bytes a call, ~280 MB.
Here a call is 24 bytes of arrays (end time, statement identity, duration) plus its trace
id's ``bytes`` (~80 bytes in all); the ``Call`` objects are built only while the
fingerprint is judged (:meth:`CallRing.calls`), and are the same as before.
"""

from __future__ import annotations

import base64
import sys
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from otel_perf.component.state import Document, unchanged
from otel_perf.processors.cache.analysis import Call


class CallRing:
    """The last ``capacity`` calls, oldest first when read (as ``deque(maxlen=...)`` was).

    Args:
        capacity: calls kept; the oldest is overwritten past it.
    """

    __slots__ = ("_next", "capacity", "durations_ms", "identities", "times_ns", "trace_ids")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.times_ns = array("q")
        self.identities = array("Q")  # the 16-hex-digit statement identity, as a number
        self.durations_ms = array("d")
        self.trace_ids: list[bytes] = []
        self._next = 0  # the slot the next call overwrites once full (the oldest)

    def __len__(self) -> int:
        return len(self.times_ns)

    def append(self, time_ns: int, identity: str, duration_ms: float, trace_id: bytes) -> None:
        """Keep one call; ``identity`` is a 16-hex-digit id (``fingerprint_id``)."""
        number = int(identity, 16)
        if len(self.times_ns) < self.capacity:
            self.times_ns.append(time_ns)
            self.identities.append(number)
            self.durations_ms.append(duration_ms)
            self.trace_ids.append(trace_id)
            return
        at = self._next
        self.times_ns[at], self.identities[at] = time_ns, number
        self.durations_ms[at], self.trace_ids[at] = duration_ms, trace_id
        self._next = (at + 1) % self.capacity

    def newest_ns(self) -> int:
        """The latest end time held (0 when empty)."""
        return max(self.times_ns, default=0)

    def calls(self) -> list[Call]:
        """The calls held, oldest first."""
        order = list(range(self._next, len(self))) + list(range(self._next))
        return [
            Call(
                self.times_ns[i],
                f"{self.identities[i]:016x}",
                self.durations_ms[i],
                self.trace_ids[i].hex(),
            )
            for i in order
        ]

    def to_dict(self) -> dict[str, str]:
        """The calls held, oldest first, as compact columns for the store: the numbers as
        base64 of little-endian arrays, the trace ids as comma-separated hex (a full ring
        is ~65 bytes a call, not ~85 as JSON lists, and is written without a loop over
        the numbers)."""
        at = self._next
        return {
            "times_ns": _packed(self.times_ns[at:] + self.times_ns[:at]),
            "identities": _packed(self.identities[at:] + self.identities[:at]),
            "durations_ms": _packed(self.durations_ms[at:] + self.durations_ms[:at]),
            "trace_ids": ",".join(t.hex() for t in self.trace_ids[at:] + self.trace_ids[:at]),
        }

    @classmethod
    def from_dict(cls, data: dict[str, str], capacity: int | None = None) -> CallRing:
        """A ring holding the newest ``capacity`` of the saved calls (all of them: None).

        Raises:
            KeyError, TypeError, ValueError: on columns that are not what ``to_dict`` wrote.
        """
        times, identities = _unpacked("q", data["times_ns"]), _unpacked("Q", data["identities"])
        durations = _unpacked("d", data["durations_ms"])
        trace_ids = [bytes.fromhex(t) for t in data["trace_ids"].split(",")] if times else []
        ring = cls(capacity or max(len(times), 1))
        columns = zip(times, identities, durations, trace_ids, strict=True)
        for time_ns, identity, duration_ms, trace_id in list(columns)[-ring.capacity :]:
            ring.append(time_ns, f"{identity:016x}", duration_ms, trace_id)
        return ring


def _packed(values: array[Any]) -> str:
    if sys.byteorder == "big":
        values = array(values.typecode, values)
        values.byteswap()
    return base64.b64encode(values.tobytes()).decode("ascii")


def _unpacked(typecode: str, text: str) -> array[Any]:
    values = array(typecode)
    values.frombytes(base64.b64decode(text, validate=True))  # ValueError on a bad length
    if sys.byteorder == "big":
        values.byteswap()
    return values


@dataclass
class Watched:
    """One (service, query fingerprint) watched for repeats."""

    fingerprint: str
    db_system: str
    table: str
    calls: CallRing


@dataclass(frozen=True)
class WatchedCalls:
    """One watched (service, query fingerprint) and its recent calls, as saved."""

    service: str
    fingerprint_id: str
    fingerprint: str
    db_system: str
    table: str
    calls: CallRing  # saved as its compact columns (:meth:`CallRing.to_dict`)


@dataclass(frozen=True)
class CallsState:
    """The persisted document of the candidate search: the watched fingerprints' calls."""

    watched: list[WatchedCalls]


CALLS = Document(CallsState, version=1, migrations={0: unchanged})


def calls_document(watched: OrderedDict[tuple[str, str], Watched]) -> CallsState:
    """The watched fingerprints and their calls as the store's document."""
    return CallsState(
        watched=[
            WatchedCalls(service, fid, w.fingerprint, w.db_system, w.table, w.calls)
            for (service, fid), w in watched.items()
        ]
    )


def restore_watched(
    saved: CallsState, max_fingerprints: int, max_samples: int
) -> OrderedDict[tuple[str, str], Watched]:
    """The newest ``max_fingerprints`` saved fingerprints, ``max_samples`` calls each."""
    out: OrderedDict[tuple[str, str], Watched] = OrderedDict()
    for body in saved.watched[-max_fingerprints:]:
        calls = body.calls
        if calls.capacity != max_samples:  # re-ring under this config's bound
            calls = CallRing.from_dict(calls.to_dict(), max_samples)
        out[(body.service, body.fingerprint_id)] = Watched(
            body.fingerprint, body.db_system, body.table, calls
        )
    return out
