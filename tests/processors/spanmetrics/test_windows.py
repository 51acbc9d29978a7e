"""Span metrics' open intervals: groups wait per batch and reach their series once, when
their interval closes."""

from __future__ import annotations

import numpy as np

from otel_perf.histogram import ExponentialHistogram
from otel_perf.processors.spanmetrics.windows import Windows
from otel_perf.series import SeriesKey

S = 1_000_000_000
A, B = SeriesKey("svc", "GET /a"), SeriesKey("svc", "GET /b")


def test_closing_an_interval_settles_only_its_groups() -> None:
    windows = Windows(10, 5, thresholds_s=[0.1])
    rng = np.random.default_rng(3)
    first, second = rng.integers(1, 10**9, 50), rng.integers(1, 10**9, 70)
    for half in (first[:20], first[20:]):  # interval 0: A and B interleaved
        windows.add_groups([0, 0], [A, B], [5, len(half) - 5], np.array([1, 0]), half)
    windows.add_groups([10 * S], [B], [len(second)], np.array([2]), second)

    closed = windows.advance(15 * S, "spanmetrics")  # interval 0 closes, 10 s stays open

    assert [c.start_ns for c in closed] == [0] and not windows.open
    assert windows.pending_values == len(second) and windows.pending_low_ns == 10 * S
    values = closed[0].values
    assert (values[A].calls, values[A].errors, values[B].calls, values[B].errors) == (10, 2, 40, 0)
    b_durations = np.concatenate((first[5:20], first[25:]))
    expected = ExponentialHistogram()
    expected.record_many(b_durations / S)
    assert values[B].duration_s.to_dict() == expected.to_dict()
    assert values[B].within == {0.1: int(np.count_nonzero(b_durations <= 0.1 * S))}

    (later,) = windows.advance(25 * S, "spanmetrics")
    expected = ExponentialHistogram()
    expected.record_many(second / S)
    assert later.values[B].calls == 70 and later.values[B].errors == 2
    assert later.values[B].duration_s.to_dict() == expected.to_dict()
    assert windows.pending == [] and windows.pending_low_ns is None
