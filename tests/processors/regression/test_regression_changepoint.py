"""Change points on synthetic series, batch and online: steps are changes, trends are not."""

from __future__ import annotations

import numpy as np

from otel_perf.processors.regression.changepoint import (
    CONFIRM,
    DELAY,
    EVERY,
    ChangePointDetector,
    detect,
    noise_scale,
)
from otel_perf.processors.regression.segment_cost import SegmentCost


def steps(seed: int, levels: list[float], lengths: list[int], sd: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(m, sd, n) for m, n in zip(levels, lengths, strict=True)])


def close(found: list[int], truth: list[int], margin: int = 3) -> bool:
    return len(found) == len(truth) and all(
        abs(f - t) <= margin for f, t in zip(found, truth, strict=False)
    )


def stream(detector: ChangePointDetector, values: np.ndarray) -> list[int]:
    return [cp for value in values for cp in detector.update(value)]


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


def test_noise_scale_ignores_a_trend() -> None:
    rng = np.random.default_rng(4)
    noise = rng.normal(0, 2.0, 500)
    trend = 0.5 * np.arange(500)  # the trend moves 125 noise deviations over the series
    assert abs(noise_scale(noise + trend) - 2.0) < 0.2
    assert noise_scale(np.full(50, 3.0)) == 1.0


def test_a_linear_trend_with_noise_has_no_change_point() -> None:
    for seed in range(5):
        rng = np.random.default_rng(seed)
        x = 100 + 0.4 * np.arange(400) + rng.normal(0, 3, 400)  # p95 growing with traffic
        assert detect(x) == [], seed
        detector = ChangePointDetector()
        assert stream(detector, x) == [] and detector.flush() == [], seed


def test_a_level_shift_in_a_trend_is_one_change_at_its_place_within_the_delay() -> None:
    for seed in range(5):
        rng = np.random.default_rng([seed, 1])
        x = 100 + 0.4 * np.arange(400) + rng.normal(0, 3, 400)
        x[250:] += 25  # a release slows the route in the middle of the growth
        detector = ChangePointDetector()
        declared_at = None
        for i, value in enumerate(x):
            if detector.update(value):
                declared_at = i + 1
        assert detector.flush() == []
        assert close(detector.reported, [250]), (seed, detector.reported)
        # declared once DELAY points follow it and CONFIRM runs (every EVERY points) agree
        assert declared_at is not None
        assert declared_at - 250 <= DELAY + CONFIRM * EVERY + 3
        (change,) = detector.declared
        assert change.delay == declared_at - change.index


def test_online_detector_reports_each_change_once() -> None:
    x = steps(4, [0, 3, -1], [150, 100, 150])
    detector = ChangePointDetector(window=200)
    found = stream(detector, x) + detector.flush()
    assert close(sorted(found), [150, 250])
    assert detector.reported == found
    assert detector.flush() == []  # nothing is reported twice


def test_detectors_that_found_nothing_hold_nothing_of_their_own_and_stay_apart() -> None:
    quiet = [ChangePointDetector(window=200) for _ in range(2)]
    for detector in quiet:
        stream(detector, steps(6, [5.0], [60]))
    busy = ChangePointDetector(window=200)
    found = stream(busy, steps(4, [0, 3, -1], [150, 100, 150])) + busy.flush()
    assert close(sorted(found), [150, 250]) and busy.reported == found
    assert [d.reported for d in quiet] == [[], []] and [d.declared for d in quiet] == [[], []]
    assert quiet[0]._streak is quiet[1]._streak and not quiet[0]._streak  # one shared empty
    assert stream(quiet[0], steps(7, [5.0, 9.0], [0, 120])) + quiet[0].flush()
    assert quiet[1].reported == [] and busy.reported == found


def test_online_detector_is_bounded() -> None:
    x = steps(5, [0, 4], [1000, 100])
    detector = ChangePointDetector(window=300)
    stream(detector, x)
    assert len(detector._buffer) <= 300
    assert close(detector.reported, [1000])


def test_curve_cost_is_the_parabola_fit_residual_plus_its_penalties() -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(0, 1, 60) + 0.01 * (np.arange(60) - 20.0) ** 2
    cost = SegmentCost(x[:, None], np.ones(1), 6.0, 12.0)
    for start, end in ((0, 60), (7, 31), (40, 45)):
        t = np.arange(start, end, dtype=np.float64)
        rss = float(((np.polyval(np.polyfit(t, x[start:end], 2), t) - x[start:end]) ** 2).sum())
        curve = cost._curve(np.array([start]), np.array([end]), 0, cost._yy[:, 0])[0]
        np.testing.assert_allclose(curve, rss + 18.0, rtol=1e-6, atol=1e-6)
    whole = np.array([0]), np.array([60])
    line_only = SegmentCost(x[:, None], np.ones(1), 6.0)
    assert line_only.cost(*whole)[0] > cost.cost(*whole)[0]  # without the parabola: dearer


def test_a_smooth_acceleration_is_one_segment() -> None:
    """A p95 that bends upward with traffic (a parabola in time) is no change; a line-only
    cost cuts it into a chain of lines."""
    for seed in range(5):
        rng = np.random.default_rng(seed)
        t = np.arange(300, dtype=np.float64)
        x = 50 + 0.002 * t**2 + rng.normal(0, 2, t.size)
        assert detect(x) == [], seed
        assert detect(x, curve_penalty=np.inf) != [], seed
        detector = ChangePointDetector()
        assert stream(detector, x) + detector.flush() == [], seed


def test_a_level_shift_on_a_curve_is_still_found() -> None:
    rng = np.random.default_rng(5)
    t = np.arange(240, dtype=np.float64)
    x = 50 + 0.002 * t**2 + rng.normal(0, 2, t.size) + 25.0 * (t >= 150)
    assert close(detect(x), [150])


def test_cost_matrix_computes_only_long_segments_and_matches_every_pair() -> None:
    rng = np.random.default_rng(11)
    signal = np.cumsum(rng.normal(0, 1, (40, 2)), axis=0)
    cost = SegmentCost(signal, np.array([1.0, 2.0]), slope_penalty=8.0, curve_penalty=12.0)
    matrix = cost.matrix(5)
    for s in range(41):
        for e in range(41):
            if e - s < 5:
                assert matrix[s, e] == np.inf
            else:  # the same arithmetic one pair at a time: bit for bit
                assert matrix[s, e] == cost.cost(np.array([s]), np.array([e]))[0]
