"""``counts_at_or_below`` (many thresholds at once) against ``count_at_or_below``."""

from __future__ import annotations

import math

import numpy as np
import pytest

from otel_perf.histogram import ExponentialHistogram, lower_boundary

BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]


def histogram(seed: int) -> ExponentialHistogram:
    """Few values (sparse buckets) or many (dense), some zeros and negatives, downscaled."""
    rng = np.random.default_rng(seed)
    values = rng.lognormal(-3, 1 + seed % 3, int(rng.integers(1, 400)))
    if seed % 4 == 1:
        values = np.concatenate((values, np.zeros(3), -values[:5]))
    hist = ExponentialHistogram(max_size=int(rng.choice([20, 160, 2048])))
    if seed % 2:
        hist.record_many(values)
    else:
        for value in values.tolist():
            hist.record(value)
    return hist


@pytest.mark.parametrize("seed", range(24))
def test_the_same_figures_as_one_threshold_at_a_time(seed: int) -> None:
    hist = histogram(seed)
    rng = np.random.default_rng(seed + 100)
    on_edges = [lower_boundary(i, hist.scale) for i in rng.integers(-200, 40, 8).tolist()]
    thresholds = [
        *BOUNDS,
        *on_edges,
        *rng.lognormal(-3, 2, 20).tolist(),
        0.0,
        -0.01,
        hist.min,
        hist.max,
        math.inf,
    ]
    assert hist.counts_at_or_below(thresholds) == [hist.count_at_or_below(t) for t in thresholds]


def test_empty_and_nan() -> None:
    assert ExponentialHistogram().counts_at_or_below(BOUNDS) == [0.0] * len(BOUNDS)
    with pytest.raises(ValueError, match="NaN"):
        histogram(3).counts_at_or_below([0.1, math.nan])
