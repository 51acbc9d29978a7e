"""The sequential test, the tail test and the statement intervals of the regression judge."""

from __future__ import annotations

import math

import numpy as np
import pytest

from otel_perf.processors.regression import tail as tail_module
from otel_perf.processors.regression.release import judge_release
from otel_perf.processors.regression.sequential import msprt
from otel_perf.processors.regression.statements import StatementIntervals
from otel_perf.processors.regression.tail import tail_test
from otel_perf.processors.regression.usage import Usage

ALPHA = 0.0015  # the sequential share of the default 2 % false-alarm rate


def lognormal(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.lognormal(math.log(100.0), 0.6, n)


def test_sequential_false_alarms_stay_under_alpha_when_peeking_after_every_sample() -> None:
    called = 0
    for seed in range(300):
        rng = np.random.default_rng([seed, 1])
        result = msprt(lognormal(rng, 200), lognormal(rng, 200), alpha=ALPHA)
        called += result.called
        assert 0 < result.p_value <= 1
    assert called <= 3  # binomial(300, 0.0015) has mean 0.45


def test_fifty_percent_slower_is_called_within_fifty_samples() -> None:
    samples = []
    for seed in range(40):
        rng = np.random.default_rng([seed, 2])
        result = msprt(lognormal(rng, 200), 1.5 * lognormal(rng, 200), alpha=ALPHA)
        samples.append(result.samples if result.called else math.inf)
        assert result.called == (result.p_value < ALPHA)
    assert sum(math.isfinite(n) for n in samples) >= 38  # seed 32 draws a fast sample
    assert np.median(samples) <= 50


def test_sequential_direction_and_small_inputs() -> None:
    rng = np.random.default_rng(3)
    base, slower = lognormal(rng, 200), 2 * lognormal(rng, 200)
    assert not msprt(base, slower, alpha=ALPHA, up_is_worse=False).called  # throughput rose
    assert msprt(base, slower / 4, alpha=ALPHA, up_is_worse=False).called
    assert not msprt(base[:3], slower, alpha=ALPHA).called  # no baseline spread to trust
    assert not msprt(base, slower[:4], alpha=ALPHA).called  # a handful of samples


def test_judge_release_says_when_the_sequential_test_called_it() -> None:
    rng = np.random.default_rng(4)
    verdict = judge_release(lognormal(rng, 200), 2 * lognormal(rng, 25))  # before min_samples
    assert verdict.outcome == "regression" and 0 < verdict.samples_to_verdict <= 25
    assert "sequential" in verdict.reason and verdict.certainty > 0.98
    assert judge_release(lognormal(rng, 10), 3 * lognormal(rng, 25)).outcome == "inconclusive"


def test_tail_test_sees_a_slower_tail_and_not_noise() -> None:
    rng = np.random.default_rng(5)
    base, same = lognormal(rng, 2000), lognormal(rng, 2000)
    assert tail_test(base, same).p_worse > 0.01
    slow = same.copy()
    slow[slow > np.quantile(slow, 0.8)] *= 1.3
    result = tail_test(base, slow)
    assert result.p_worse < 1e-6 and result.change > 0.2 and result.p_better > 0.5
    flipped = tail_test(base, slow, up_is_worse=False)
    assert flipped.p_better == result.p_worse
    assert math.isnan(tail_test(base[:10], slow[:10]).change)  # two values a side: no test


def test_statement_intervals_close_by_end_time_and_are_bounded() -> None:
    s = StatementIntervals(max_series=2, per_series=3)
    s.add("shop", "db a", 5, 1.0, b"t1")
    s.add("shop", "db a", 15, 9.0, b"t1")
    s.add("shop", "db b", 6, 2.0)
    s.add("shop", "db c", 6, 2.0)  # a third key: over max_series
    s.add("shop", "db a", 7, 3.0, b"t2")
    s.add("shop", "db a", 8, 4.0)  # a fourth pending value: over per_series
    assert s.untracked == 2
    closed = sorted(s.close(0, 10))
    assert [(k, round(v, 2)) for _, k, v, _ in closed] == [("db a", 2.9), ("db b", 2.0)]
    # two executions of "db a" in two traces, 4 ms together, in a 10-ns interval
    assert closed[0][3] == Usage(executions=2, traces=2, total_ms=4.0, length_s=1e-8)
    assert list(s.close(20, 30)) == [] and s.late == 1  # the 15 ms one missed its interval
    assert s.pending == {}


def test_tail_test_normal_approximation_matches_the_permutations() -> None:
    # 2,000 values a side put 800 above the pooled p80: past EXACT_LIMIT, so the normal law
    # with the permutation distribution's exact moments answers; 2,000 draws agree with it
    rng = np.random.default_rng(6)
    base, cur = lognormal(rng, 2000), lognormal(rng, 2000)
    cur[cur > np.quantile(cur, 0.8)] *= 1.04
    result = tail_test(base, cur)
    scores = np.log(np.concatenate([cur[cur > result.threshold], base[base > result.threshold]]))
    assert scores.size > tail_module.EXACT_LIMIT
    n_current = int((cur > result.threshold).sum())
    permuted = tail_module._permutation(scores, n_current, seed=0)
    assert 0.001 < result.p_worse < 0.2
    assert result.p_worse == pytest.approx(permuted[0], abs=0.01)
    assert result.p_better == pytest.approx(permuted[1], abs=0.01)


def test_tail_test_without_a_positive_threshold_scores_the_values_themselves() -> None:
    rng = np.random.default_rng(7)
    base = rng.normal(-5.0, 1.0, 500)  # e.g. a change in ms, negative: no logarithm
    worse = tail_test(base, rng.normal(-5.0, 1.0, 500) + 1.5)
    assert worse.threshold < 0 and worse.p_worse < 0.01 and worse.p_better > 0.99
