"""``benchmarks.tcpd --synthetic``: how often a release verdict calls a regression.

Seeded lognormal latencies (median 100 ms, sigma 0.6, p95 about 268 ms), ``n`` values per
side, judged by :func:`release.judge_release` with its defaults (what the processor runs on
a version change). ``scale``: every current value times ``1 + shift``, so every quantile
moves. ``tail``: only values above the population p80 are stretched, so that the population
p95 moves by ``shift`` and the median does not. A 0 % shift measures false alarms (both
shapes are then one distribution: one measurement, on ``NULL_TRIALS`` times as many trials;
``SMALL_NULL_TRIALS`` times at ``n <= 200``). Samples to a verdict: a baseline of 200,
new-version samples arriving one at a time; the sequential test is checked after each, the
full verdict at the 200th (the processor's ``version_window``); the count at which a
regression is first called. ``block`` picks the seeds: 0 is the seeds every earlier figure
used (and settings were tuned on), any other block is a fresh set (``[..., block]``
appended to every seed), for held-out figures.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from otel_perf.processors.regression.release import judge_release
from otel_perf.processors.regression.sequential import msprt
from otel_perf.processors.regression.stats import (
    FALSE_ALARM_RATE,
    SEQUENTIAL_SHARE,
    TAIL_SHARE,
    compare,
)

Series = npt.NDArray[np.float64]
SIZES = (100, 200, 1000, 5000)
SHIFTS = (0.0, 0.05, 0.10, 0.20)
WINDOW = 200
# times --trials for the 0 % cells: a 2 % rate needs many trials to pin down (1,000 trials
# measure it ± 0.44 %, 5,000 ± 0.2 %); the small sizes, cheap to judge, get more
NULL_TRIALS = 5
SMALL_NULL_TRIALS = 25
SMALL = 200


def shifted(rng: np.random.Generator, shape: str, n: int, shift: float) -> Series:
    """``n`` current latencies of ``shape`` with the population p95 moved by ``shift``."""
    x = rng.lognormal(np.log(100.0), 0.6, n)
    if shape == "scale":
        return x * (1 + shift)
    q80, q95 = 100.0 * np.exp(0.6 * 0.8416), 100.0 * np.exp(0.6 * 1.6449)
    stretch = shift * q95 / (q95 - q80)
    stretched: Series = x + stretch * np.clip(x - q80, 0.0, None)
    return stretched


def _seed(block: int, *parts: int) -> list[int]:
    return [*parts, block] if block else list(parts)


def _rate(shape: str, n: int, shift: float, trials: int, block: int = 0) -> float:
    called = 0
    for trial in range(trials):
        rng = np.random.default_rng(_seed(block, n, trial, int(shift * 1000), shape == "tail"))
        baseline = rng.lognormal(np.log(100.0), 0.6, n)
        called += judge_release(baseline, shifted(rng, shape, n, shift)).outcome == "regression"
    return called / trials


def samples_to_verdict(shape: str, shift: float, trials: int, block: int = 0) -> dict[str, float]:
    """Median new-version samples before a regression is called, and how often it is."""
    counts: list[int] = []
    alpha = SEQUENTIAL_SHARE * FALSE_ALARM_RATE
    for trial in range(trials):
        rng = np.random.default_rng(_seed(block, 7, trial, int(shift * 1000), shape == "tail"))
        baseline = rng.lognormal(np.log(100.0), 0.6, WINDOW)
        current = shifted(rng, shape, WINDOW, shift)
        seq = msprt(baseline, current, alpha=alpha)
        if seq.called:
            counts.append(seq.samples)
        elif compare(baseline, current).outcome == "regression":
            counts.append(WINDOW)
    median = float(np.median(counts)) if counts else float("nan")
    return {"median_samples": median, "called": len(counts) / trials}


def _log_ratio(x: Series, shift: float) -> Series:
    """Per value, ``ln f_tail(x) / f(x)``: the tail-stretched density over the lognormal's."""
    from scipy import stats

    q80, q95 = 100.0 * np.exp(0.6 * 0.8416), 100.0 * np.exp(0.6 * 1.6449)
    stretch = shift * q95 / (q95 - q80)
    unstretched = np.where(x > q80, q80 + (x - q80) / (1 + stretch), x)
    logf = stats.lognorm.logpdf
    out: Series = np.where(
        x > q80,
        logf(unstretched, 0.6, scale=100.0) - np.log1p(stretch) - logf(x, 0.6, scale=100.0),
        0.0,
    )
    return out


def tail_bound(n: int, shift: float, level: float, trials: int) -> float:
    """The power of the Neyman-Pearson oracle for the tail-only shift: it knows the lognormal,
    where the stretch starts and by how much, and compares ``sum log ratio(current) - sum log
    ratio(baseline)`` with its own null quantile at ``level``. No test that does not know the
    shape can beat it: the ceiling of the tail test at its share of the false-alarm rate."""
    rng = np.random.default_rng([99, n, int(shift * 1000)])

    def statistic(current_shift: float, count: int) -> Series:
        base = rng.lognormal(np.log(100.0), 0.6, (count, n))
        cur = np.stack([shifted(rng, "tail", n, current_shift) for _ in range(count)])
        diff: Series = _log_ratio(cur, shift).sum(axis=1) - _log_ratio(base, shift).sum(axis=1)
        return diff

    critical = float(np.quantile(statistic(0.0, 10 * trials), 1 - level))
    return float((statistic(shift, trials) > critical).mean())


def synthetic(trials: int, block: int = 0) -> dict[str, Any]:
    """The detection and false-alarm table, and samples to a verdict for +50 %."""
    table: dict[str, Any] = {"seed_block": block}
    print(f"{'shape':6} {'n':>6} " + " ".join(f"{f'p95 +{s:.0%}':>9}" for s in SHIFTS))
    # one shape for 0 %: both shapes are then the same distribution
    null = {
        n: _rate(
            "scale", n, 0.0, (SMALL_NULL_TRIALS if n <= SMALL else NULL_TRIALS) * trials, block
        )
        for n in SIZES
    }
    for shape in ("scale", "tail"):
        for n in SIZES:
            rates = [
                null[n] if not shift else _rate(shape, n, shift, trials, block) for shift in SHIFTS
            ]
            for shift, rate in zip(SHIFTS, rates, strict=True):
                table[f"{shape}/n={n}/p95+{shift:.0%}"] = rate
            print(f"{shape:6} {n:6d} " + " ".join(f"{r:9.3f}" for r in rates), flush=True)
    alarms = [v for k, v in table.items() if k.endswith("+0%")]
    table["false_alarm_max"] = max(alarms)
    for shape in ("scale", "tail"):
        result = samples_to_verdict(shape, 0.5, trials, block)
        table[f"{shape}/+50%/samples_to_verdict"] = result
        print(
            f"{shape} +50 %: regression called in {result['called']:.1%} of trials, median "
            f"{result['median_samples']:.0f} samples of the new version"
        )
    print(f"false alarms (0 %), worst cell: {table['false_alarm_max']:.3f}")
    level = TAIL_SHARE * FALSE_ALARM_RATE
    bound = tail_bound(1000, 0.10, level, 5 * trials)
    whole = tail_bound(1000, 0.10, FALSE_ALARM_RATE, 5 * trials)
    table["tail/n=1000/p95+10%/oracle_bound"] = {"tail_share": bound, "whole_budget": whole}
    print(
        f"tail +10 % at n = 1000: the shape-knowing oracle catches {bound:.1%} at the tail "
        f"test's {level:.2%} level, {whole:.1%} at {FALSE_ALARM_RATE:.0%}"
    )
    return table
