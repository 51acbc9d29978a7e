"""VPA-style right-sizing: percentiles plus margin, confidence-widened bounds, status."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from otel_perf.processors.capacity.rightsizing import confidence_multiplier, recommend

USAGE = np.random.default_rng(7).gamma(4.0, 0.1, 5000)  # cores, skewed like real CPU use


def test_target_is_p90_plus_fifteen_percent_and_bounds_p50_p95() -> None:
    rec = recommend(USAGE, history_days=1e9)  # so much history the multipliers are ~1
    p50, p90, p95 = np.quantile(USAGE, [0.5, 0.9, 0.95])
    assert rec.target == pytest.approx(p90 * 1.15)
    assert rec.lower == pytest.approx(p50 * 1.15)
    assert rec.upper == pytest.approx(p95 * 1.15)
    assert rec.samples == 5000 and rec.status == "unknown"


@pytest.mark.parametrize(
    ("days", "upper_factor"), [(0.5, 3.0), (1.0, 2.0), (7.0, 8 / 7), (30.0, 31 / 30)]
)
def test_short_history_widens_the_upper_bound_like_vpa(days: float, upper_factor: float) -> None:
    rec = recommend(USAGE, history_days=days)
    long = recommend(USAGE, history_days=1e9)
    assert rec.upper == pytest.approx(long.upper * upper_factor)
    assert rec.target == pytest.approx(long.target)  # the target has no multiplier
    assert rec.lower == pytest.approx(long.lower * (1 + 0.001 / days) ** -2)


def test_no_history_means_unbounded_upper_and_zero_lower() -> None:
    assert confidence_multiplier(1.0, 1.0, 0.0) == math.inf
    assert confidence_multiplier(0.001, -2.0, 0.0) == 0.0


@pytest.mark.parametrize(
    ("request_cores", "limit", "status"),
    [(5.0, None, "over"), (0.45, None, "ok"), (0.1, None, "under"), (0.45, 0.3, "under")],
)
def test_request_is_flagged_against_the_bounds(
    request_cores: float, limit: float | None, status: str
) -> None:
    rec = recommend(USAGE, history_days=14, request=request_cores, limit=limit)
    assert rec.status == status
    assert rec.excess == (request_cores - rec.target if status == "over" else 0.0)
    assert rec.to_dict()["status"] == status


def test_nan_samples_are_ignored_and_input_is_not_mutated() -> None:
    samples = np.array([1.0, np.nan, 2.0, 3.0])
    copy = samples.copy()
    rec = recommend(samples, history_days=3)
    assert np.array_equal(samples, copy, equal_nan=True)
    assert rec.samples == 3


def test_no_finite_sample_is_an_error() -> None:
    with pytest.raises(ValueError, match="need at least one finite usage sample"):
        recommend([math.nan], history_days=1)


@given(
    st.lists(st.floats(0, 1e6), min_size=1, max_size=200),
    st.floats(0.01, 365),
    st.floats(0, 1),
)
def test_bounds_are_ordered(values: list[float], days: float, margin: float) -> None:
    rec = recommend(values, history_days=days, margin=margin)
    assert rec.lower <= rec.target * (1 + 1e-9) and rec.target <= rec.upper * (1 + 1e-9)
