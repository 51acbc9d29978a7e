"""The bounded queue: items and wire bytes both bound it; peaks are kept."""

from __future__ import annotations

import pytest
from otlp_builders import trace_request

from otel_perf.decode import Decoder
from otel_perf.model import SpanBatch
from otel_perf.queue import BoundedQueue


def batch(n: int, route_bytes: int = 10) -> SpanBatch:
    """``n`` spans decoded from a real request body, its size as sent on the batch."""
    body = trace_request(spans=n, route="x" * route_bytes).SerializeToString()
    decoded, problems = Decoder().spans_from_bytes(body)
    assert not problems.rejected
    decoded.wire_bytes = len(body)
    return decoded


def test_a_batch_that_would_pass_the_byte_bound_is_refused() -> None:
    small, big = batch(2), batch(2, route_bytes=4000)
    queue = BoundedQueue(max_items=1000, max_bytes=small.wire_bytes + big.wire_bytes - 1)
    assert queue.offer(big)
    assert not queue.offer(small)  # one byte short
    assert queue.depth == 2 and queue.bytes == big.wire_bytes
    assert queue.take(0.0) is big
    assert queue.bytes == 0 and queue.offer(small)


def test_the_item_bound_still_holds_under_the_byte_bound() -> None:
    queue = BoundedQueue(max_items=3, max_bytes=10**9)
    assert queue.offer(batch(2))
    assert not queue.offer(batch(2))


def test_a_batch_bigger_than_the_byte_bound_fits_an_empty_queue() -> None:
    huge = batch(1, route_bytes=5000)
    queue = BoundedQueue(max_items=1000, max_bytes=100)
    assert queue.offer(huge) and not queue.offer(batch(1))


@pytest.mark.parametrize("max_bytes", [None, 10**9])
def test_peaks_and_stats_count_what_was_held_at_once(max_bytes: int | None) -> None:
    first, second = batch(2), batch(3, route_bytes=200)
    queue = BoundedQueue(max_items=1000, max_bytes=max_bytes)
    assert queue.offer(first) and queue.offer(second)
    assert queue.take(0.0) is first and queue.take(0.0) is second
    assert queue.offer(batch(1))
    assert queue.stats() == {
        "bytes": batch(1).wire_bytes,
        "capacity_bytes": max_bytes or 0,
        "peak": 5,
        "peak_bytes": first.wire_bytes + second.wire_bytes,
    }
