"""Many histograms recorded in one pass (``record_groups``) against ``record_many`` each."""

from __future__ import annotations

import numpy as np
import pytest

from otel_perf.histogram import ExponentialHistogram
from otel_perf.histogram.grouped import SHORT, record_groups


def both(values: np.ndarray, sizes: list[int], before: list[list[float]]) -> None:
    bounds = np.concatenate(([0], np.cumsum(sizes))).tolist()
    grouped, alone = [], []
    for held in before:
        for out in (grouped, alone):
            h = ExponentialHistogram(max_size=160)
            h.record_many(held)
            out.append(h)
    record_groups(grouped, values, bounds)
    for h, low, high in zip(alone, bounds, bounds[1:], strict=False):
        h.record_many(values[low:high])
    assert grouped == alone
    assert [h.sum for h in grouped] == [h.sum for h in alone]  # to the last bit


@pytest.mark.parametrize("seed", range(8))
def test_same_as_record_many_each(seed: int) -> None:
    rng = np.random.default_rng(seed)
    groups = int(rng.integers(1, 40))
    sizes = rng.integers(0, 3 * SHORT, groups).tolist()  # empty, short and long groups
    sigma = [0.5, 1.0, 12.0][seed % 3]  # 12: some groups need a downscale at 160 buckets
    values = rng.lognormal(-3.0, sigma, int(sum(sizes)))
    # some histograms already hold data: those are recorded by record_many
    before = [[] if rng.random() < 0.7 else [0.01, 2.0] for _ in range(groups)]
    both(values, sizes, before)


def test_zeros_negatives_and_non_finite_values() -> None:
    values = np.array([0.0, 0.5, -0.25, 3.0])
    both(values, [2, 2], [[], []])
    with pytest.raises(ValueError, match="non-finite"):
        record_groups([ExponentialHistogram()], np.array([1.0, np.nan]), [0, 2])
