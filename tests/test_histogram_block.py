"""HistogramBlock: histograms as columns, read back and merged as the objects would be."""

from __future__ import annotations

import numpy as np
import pytest

from otel_perf.histogram import ExponentialHistogram
from otel_perf.histogram.block import HistogramBlock


def _histograms(seed: int, n: int) -> list[ExponentialHistogram]:
    """Seeded histograms of every shape: empty, zeros, negatives, sparse, dense, downscaled."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        shape = i % 7
        h = ExponentialHistogram(max_size=int(rng.choice([2048, 160, 20])))
        if shape == 0:
            pass  # empty
        elif shape == 1:
            h.record_many(rng.lognormal(-3, 1, int(rng.integers(1, 12))))
        elif shape == 2:
            h.record_many(rng.lognormal(-3, 2.5, int(rng.integers(50, 400))))
        elif shape == 3:
            h.record_many(np.concatenate(([0.0, 0.0], rng.normal(0, 1, 30))))
        elif shape == 4:
            for value in rng.lognormal(0, 3, 20):
                h.record(float(value))
        elif shape == 5:
            h.record_many(np.full(300, 0.25))
        else:
            h.record_many(rng.lognormal(5, 0.1, 3) * 1e-9)
        out.append(h)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_rows_read_back_equal(seed: int) -> None:
    histograms = _histograms(seed, 70)
    block = HistogramBlock.of(histograms)
    for row, h in enumerate(histograms):
        back = block.histogram(row)
        assert back == h
        assert (back.max_size, back.max_scale) == (h.max_size, h.max_scale)
        assert back.otlp_buckets() == h.otlp_buckets()
        assert back.quantiles([0.5, 0.99]) == h.quantiles([0.5, 0.99]) or h.count == 0


@pytest.mark.parametrize("seed", range(6))
def test_combine_merges_as_the_objects_do(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    mine = _histograms(seed, 40)
    theirs = _histograms(seed + 50, 30)
    into = np.full(len(theirs), -1, np.intp)
    chosen = rng.choice(len(mine), size=20, replace=False)
    into[rng.choice(len(theirs), size=20, replace=False)] = chosen
    combined = HistogramBlock.of(mine).combine(HistogramBlock.of(theirs), into)
    expected = [h.copy() for h in mine]
    for j, row in enumerate(into.tolist()):
        if row >= 0:
            expected[row].merge(theirs[j])
        else:
            expected.append(theirs[j].copy())
    assert len(combined) == len(expected)
    for row, h in enumerate(expected):
        got = combined.histogram(row)
        assert got == h, row
        assert got.sum == h.sum or (np.isnan(got.sum) and np.isnan(h.sum))
        assert got.max_size == h.max_size


def test_take_keeps_the_rows_asked_for() -> None:
    histograms = _histograms(3, 21)
    block = HistogramBlock.of(histograms)
    rows = np.array([20, 3, 3, 0], np.intp)
    taken = block.take(rows)
    assert [taken.histogram(i) for i in range(4)] == [histograms[r] for r in rows.tolist()]


def test_empty_block() -> None:
    block = HistogramBlock.of([])
    assert len(block) == 0
    grown = block.combine(HistogramBlock.of(_histograms(1, 3)), np.full(3, -1, np.intp))
    assert [grown.histogram(i) for i in range(3)] == _histograms(1, 3)
