"""The compact ring of a watched fingerprint's recent calls."""

from __future__ import annotations

from collections import deque

import pytest

from otel_perf.processors.cache.analysis import Call
from otel_perf.processors.cache.calls import CallRing


def _call(i: int) -> tuple[int, str, float, bytes]:
    return 1_000 + i, f"{(i * 0x9E3779B97F4A7C15) % 2**64:016x}", i / 3, bytes([i % 256]) * 16


@pytest.mark.parametrize("count", [0, 1, 4, 5, 12, 23])
def test_the_ring_reads_back_what_a_bounded_deque_of_calls_held(count: int) -> None:
    ring, reference = CallRing(5), deque[Call](maxlen=5)
    for i in range(count):
        time_ns, identity, duration_ms, trace_id = _call(i)
        ring.append(time_ns, identity, duration_ms, trace_id)
        reference.append(Call(time_ns, identity, duration_ms, trace_id.hex()))
    assert ring.calls() == list(reference)
    assert len(ring) == len(reference)
    assert ring.newest_ns() == max((c.time_ns for c in reference), default=0)


def test_an_identity_keeps_its_leading_zeros() -> None:
    ring = CallRing(2)
    ring.append(5, "000000000000abcd", 1.5, b"\x01\x02")  # a hand-made short trace id too
    assert ring.calls() == [Call(5, "000000000000abcd", 1.5, "0102")]


def test_a_ring_holds_at_least_one_call() -> None:
    with pytest.raises(ValueError, match="capacity must be at least 1, got 0"):
        CallRing(0)


@pytest.mark.parametrize(("count", "capacity"), [(0, 5), (3, 5), (12, 5), (12, 3), (12, 20)])
def test_the_ring_round_trips_through_its_stored_columns(count: int, capacity: int) -> None:
    ring = CallRing(5)
    for i in range(count):
        ring.append(*_call(i))
    ring.append(2_000, "0000000000000001", 1.5, b"")  # no trace id: kept as none
    body = ring.to_dict()
    assert all(isinstance(column, str) for column in body.values())
    again = CallRing.from_dict(body, capacity)
    assert again.calls() == ring.calls()[-capacity:]
    assert again.calls()[-1].trace_id == ""
