"""Change points on synthetic piecewise-constant series, batch and online."""

from __future__ import annotations

import math

import numpy as np

from otel_perf.processors.regression.changepoint import (
    ChangePointDetector,
    default_penalty,
    detect,
)


def steps(seed: int, levels: list[float], lengths: list[int], sd: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(m, sd, n) for m, n in zip(levels, lengths, strict=True)])


def close(found: list[int], truth: list[int], margin: int = 3) -> bool:
    return len(found) == len(truth) and all(
        abs(f - t) <= margin for f, t in zip(found, truth, strict=False)
    )


def test_piecewise_constant_series() -> None:
    for seed in range(5):
        x = steps(seed, [0, 3, -1, 2], [100, 80, 120, 60])
        assert close(detect(x), [100, 180, 300]), seed


def test_constant_and_noise_series_have_no_change_points() -> None:
    assert detect(np.full(200, 7.0)) == []
    assert detect(np.random.default_rng(0).normal(0, 1, 300)) == []


def test_short_series_and_missing_values() -> None:
    assert detect([1.0, 2.0, 3.0]) == []
    x = steps(1, [0, 4], [60, 60])
    x[[10, 59, 61]] = np.nan
    copy = x.copy()
    assert close(detect(x), [60])
    np.testing.assert_array_equal(x, copy)  # input untouched


def test_two_columns() -> None:
    x = np.column_stack([steps(2, [0, 3], [80, 80]), steps(3, [0, 0], [80, 80])])
    assert close(detect(x), [80])


def test_default_penalty_is_mbic_style() -> None:
    assert default_penalty(100) == 3 * math.log(100)
    assert default_penalty(100, 2) == 6 * math.log(100)


def test_online_detector_reports_each_change_once() -> None:
    x = steps(4, [0, 3, -1], [150, 100, 150])
    detector = ChangePointDetector(window=200, every=10)
    found = [cp for value in x for cp in detector.update(value)] + detector.flush()
    assert close(sorted(found), [150, 250])
    assert detector.reported == found
    assert detector.flush() == []  # nothing is reported twice


def test_online_detector_is_bounded_and_late_by_little() -> None:
    x = steps(5, [0, 4], [1000, 100])
    detector = ChangePointDetector(window=300, every=10)
    seen_at = None
    for i, value in enumerate(x):
        if detector.update(value):
            seen_at = i
    assert len(detector._buffer) == 300
    assert close(detector.reported, [1000])
    assert seen_at is not None and seen_at - 1000 <= 2 * 10 + 5
