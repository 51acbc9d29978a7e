"""One contract over every model of the anomaly detector, as river checks every estimator.

Each model: its docstring's seeded example holds; its state round-trips through JSON and the
copy continues exactly as the original; its state does not grow with the series; a point
costs the same number of Python calls early and late in a series (counted, not timed).
"""

from __future__ import annotations

import doctest
import json
import math
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import pytest

from otel_perf.codec import StateError, decode, encode
from otel_perf.processors.anomaly import coarse, detector, likelihood, models, ratio, seasonal
from otel_perf.processors.anomaly.coarse import BlockMeans
from otel_perf.processors.anomaly.detector import Detector, DetectorSettings, robust
from otel_perf.processors.anomaly.likelihood import Likelihood, Recurrence
from otel_perf.processors.anomaly.models import FlatLine, MultiScaleZ, PredictorBank, RangeNovelty
from otel_perf.processors.anomaly.ratio import CountRatio
from otel_perf.processors.anomaly.saved import (
    SavedBank,
    SavedBlocks,
    SavedFlat,
    SavedLikelihood,
    SavedProfile,
    SavedRange,
    SavedRatio,
    SavedRecurrence,
    SavedShift,
)
from otel_perf.processors.anomaly.seasonal import SeasonalProfile

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # benchmarks/ is a top-level folder, not installed

from benchmarks.nab import state_bytes  # noqa: E402

STEP_S = 300.0
# the block-means model over blocks of 24 points (off by default) alone, without the day's
COARSE = DetectorSettings(coarse_blocks=(24,), coarse_duration_s=())
T0_S = 1_700_000_000.0


@dataclass(frozen=True)
class Spec:
    """How to drive one model: make it, feed it one point (returning its output), save it
    (its typed document through the codec) and rebuild it."""

    name: str
    make: Callable[[], Any]
    step: Callable[[Any, float, float], float]
    document: Any = None  # the model's saved document; None: the detector's own to_dict

    def save(self, model: Any) -> Any:
        """The model's state as JSON-able data."""
        return model.to_dict() if self.document is None else encode(self.document, model.saved())

    def rebuild(self, state: Any) -> Any:
        """The model :meth:`save` wrote as ``state``."""
        if self.document is None:
            return Detector.from_dict(state)
        return type(self.make()).resume(decode(self.document, state))


def _score_then_learn(model: Any, t_s: float, x: float) -> float:
    out = float(model.score_one(t_s, x))
    model.learn_one(t_s, x)
    return out


def _likelihood_step(model: Likelihood, t_s: float, x: float) -> float:
    out = model.log_tail(abs(x - 10.0))
    model.learn_one(abs(x - 10.0))
    return out


def _recurrence_step(model: Recurrence, t_s: float, x: float) -> float:
    surprise = abs(x - 10.0)
    out = model.cap(surprise)
    model.learn_one(surprise)
    return out


def _ratio_step(model: CountRatio, t_s: float, x: float) -> float:
    calls = 50.0 + 40.0 * math.sin(t_s / 5000.0)  # few calls at times, many at others
    errors = round(abs(x - 10.0) * calls / 20.0)
    out = model.score_one(t_s, errors, calls) + model.window_z(errors, calls)
    model.learn_one(t_s, errors, calls)
    return out


def _counted_detector_step(model: Detector, t_s: float, x: float) -> float:
    return model.score_one(t_s, min(abs(x - 10.0) / 20.0, 1.0), 100.0)


def _seasonal_step(model: SeasonalProfile, t_s: float, x: float) -> float:
    predicted = model.predict(t_s)
    model.learn_one(t_s, x)
    return math.nan if predicted is None else predicted


SPECS = [
    Spec(
        "predictor_bank",
        lambda: PredictorBank(seasonality_s=(86400.0, 604800.0)),
        _score_then_learn,
        SavedBank,
    ),
    Spec("multiscale_z", MultiScaleZ, _score_then_learn, SavedShift),
    Spec("flat_line", FlatLine, _score_then_learn, SavedFlat),
    Spec("range_novelty", RangeNovelty, _score_then_learn, SavedRange),
    Spec("likelihood", lambda: Likelihood(15, 0.0005), _likelihood_step, SavedLikelihood),
    Spec(
        "recurrence",
        lambda: Recurrence(3e-4, 2, 2e-3),
        _recurrence_step,
        SavedRecurrence,
    ),
    Spec(
        "seasonal_profile",
        lambda: SeasonalProfile(86400.0, 288, 0.2, 1),
        _seasonal_step,
        SavedProfile,
    ),
    Spec("count_ratio", CountRatio, _ratio_step, SavedRatio),
    Spec(
        "block_means",
        lambda: BlockMeans(24, seasonality_s=(86400.0, 604800.0)),
        _score_then_learn,
        SavedBlocks,
    ),
    Spec(
        "block_means_of_a_duration",  # 2 h: blocks of 24 five-minute points
        lambda: BlockMeans(0, seasonality_s=(86400.0, 604800.0), duration_s=7200.0),
        _score_then_learn,
        SavedBlocks,
    ),
    Spec("detector", Detector, lambda m, t, x: m.score_one(t, x)),
    Spec("detector_with_counts", Detector, _counted_detector_step),
    Spec(
        "detector_with_block_means",
        lambda: Detector(COARSE),
        lambda m, t, x: m.score_one(t, x),
    ),
    Spec(
        "robust_detector",
        lambda: Detector(robust(DetectorSettings())),
        lambda m, t, x: m.score_one(t, x),
    ),
]


def series(n: int, seed: int = 0) -> list[tuple[float, float]]:
    """A daily cycle with noise, a few repeats and an occasional spike."""
    rng = random.Random(seed)
    points = []
    for i in range(n):
        x = 10.0 + 3.0 * math.sin(2 * math.pi * i / 288) + rng.gauss(0.0, 0.5)
        if rng.random() < 0.01:
            x += 10.0
        if i % 97 < 3:
            x = 7.0
        points.append((T0_S + i * STEP_S, x))
    return points


@pytest.mark.parametrize(
    "module", [models, likelihood, ratio, seasonal, coarse, detector], ids=lambda m: m.__name__
)
def test_docstring_examples(module: ModuleType) -> None:
    result = doctest.testmod(module, verbose=False)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_state_round_trips_and_continues_identically(spec: Spec) -> None:
    points = series(3000)
    original = spec.make()
    for t, x in points[:2000]:
        spec.step(original, t, x)
    state = json.loads(json.dumps(spec.save(original), allow_nan=False))
    copy = spec.rebuild(state)
    for t, x in points[2000:]:
        a, b = spec.step(original, t, x), spec.step(copy, t, x)
        assert a == b or (math.isnan(a) and math.isnan(b))
    assert spec.save(copy) == spec.save(original)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_state_does_not_grow_with_the_series(spec: Spec) -> None:
    model = spec.make()
    points = series(12_000)
    for t, x in points[:6000]:  # a week of 5-minute points fills every seasonal bucket
        spec.step(model, t, x)
    early = len(json.dumps(spec.save(model)))
    for t, x in points[6000:]:
        spec.step(model, t, x)
    late = len(json.dumps(spec.save(model)))
    assert late <= early * 1.05  # numbers' digits may vary, not their count


def _calls(action: Callable[[], object]) -> int:
    count = 0

    def profile(frame: FrameType, event: str, arg: object) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        action()
    finally:
        sys.setprofile(None)
    return count


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_cost_per_point_does_not_grow(spec: Spec) -> None:
    model = spec.make()
    points = series(10_200)
    for t, x in points[:2000]:
        spec.step(model, t, x)
    early = sum(_calls(lambda p=p: spec.step(model, *p)) for p in points[2000:2100])
    for t, x in points[2100:10_000]:
        spec.step(model, t, x)
    late = sum(_calls(lambda p=p: spec.step(model, *p)) for p in points[10_000:10_100])
    # the same work per point; branches (a repeat, a spike) may differ by a few calls
    assert late <= early * 1.1 + 10


@pytest.mark.parametrize("settings", [DetectorSettings(), robust(DetectorSettings()), COARSE])
def test_detector_state_stays_under_16_kib_per_series(settings: DetectorSettings) -> None:
    d = Detector(settings)
    for t, x in series(2016 * 2):  # two weeks of 5-minute points: every bucket of both profiles
        d.score_one(t, x)
    assert state_bytes(d) < 16 * 1024  # in memory; the JSON text is about as large


def test_same_seed_same_scores_and_input_not_mutated() -> None:
    points = series(1500, seed=4)
    frozen = list(points)
    a = [Detector(seed=1).score_one(t, x) for t, x in points]
    b = [Detector(seed=1).score_one(t, x) for t, x in points]
    assert a == b and points == frozen


def test_the_cap_takes_a_surprise_within_a_level_of_a_frequent_one() -> None:
    # a burst to a surprise of 6 every 100 points: level 5 (5.66) is this series' normal
    r = Recurrence(alpha=1e-3, free=1, min_rate=2e-3)
    for i in range(2000):
        r.learn_one(6.0 if i % 100 == 0 else 0.5)
    assert r.rate(9.0) == 0.0  # level 6 (8) itself never reached ...
    assert r.cap(9.0) < 2.5  # ... but within √2 of level 5: no news
    assert r.cap(12.0) == 12.0  # two levels above anything seen keeps its surprise
    assert r.cap(6.5) == pytest.approx(r.cap(9.0))  # both judged by level 5's rate


def _bump_series(n: int, bump: range, height: float, seed: int = 0) -> list[tuple[float, float]]:
    """Hourly noise (σ 1) with a slow bump ``height`` σ high over ``bump``."""
    rng = random.Random(seed)
    return [
        (T0_S + 3600.0 * i, 100.0 + rng.gauss(0.0, 1.0) + (height if i in bump else 0.0))
        for i in range(n)
    ]


def test_block_means_see_a_slow_bump_the_one_step_predictors_follow() -> None:
    # a bump of 2 noise widths for two days: a spike of the 24-point block means
    points = _bump_series(1200, range(1000, 1048), 2.0)
    model, bank = BlockMeans(24), PredictorBank()
    block_tails, point_z = [], []
    for t, x in points:
        block_tails.append(model.score_one(t, x))
        point_z.append(bank.score_one(t, x))
        model.learn_one(t, x)
        bank.learn_one(t, x)
    assert min(block_tails[1000:1072]) < -5.0 < -1.0 < min(block_tails[:1000])
    # one step at a time the bump is no more surprising than the noise before it
    assert max(point_z[1000:1048]) < 1.05 * max(point_z[200:1000])
    assert all(q == 0.0 for i, q in enumerate(block_tails) if (i + 1) % 24)  # block ends only


def test_block_means_need_a_block_of_two_points() -> None:
    with pytest.raises(ValueError, match="block: must be at least 2 points, got 1"):
        BlockMeans(1)


def _day_blocks(points: list[tuple[float, float]]) -> tuple[BlockMeans, list[float]]:
    model = BlockMeans(0, duration_s=86400.0)
    tails = []
    for t, x in points:
        tails.append(model.score_one(t, x))
        model.learn_one(t, x)
    return model, tails


def test_a_block_of_a_day_is_a_day_of_points_whatever_the_step() -> None:
    # the same setting on hourly and five-minute points: 24 and 288 points a block
    hourly, _ = _day_blocks(_bump_series(100, range(0), 0.0))
    fine = [(T0_S + 300.0 * i, 1.0) for i in range(100)]
    five_minutes, _ = _day_blocks(fine)
    assert (hourly.block, hourly.name, five_minutes.block) == (24, "1d", 288)
    # a series sampled once a day has no blocks of a day: the model stays idle
    daily, tails = _day_blocks([(T0_S + 86400.0 * i, float(i % 3)) for i in range(40)])
    assert daily.block == 1 and daily.bank.n == 0 and set(tails) == {0.0}


def test_blocks_of_a_day_end_at_midnight_utc_and_see_a_day_long_bump() -> None:
    # hourly noise (σ 1) from 00:00 UTC, a bump of 2 σ over day 50: the day's mean is 2 σ
    # high, 10 standard errors of a day's mean; one hour at a time it is ordinary noise
    day0 = 86400.0 * math.ceil(T0_S / 86400.0)
    points = [(day0 + t - T0_S, x) for t, x in _bump_series(24 * 56, range(1200, 1224), 2.0)]
    model, tails = _day_blocks(points)
    judged = [i for i, q in enumerate(tails) if q != 0.0]
    assert judged and all(points[i][0] % 86400.0 == 23 * 3600.0 for i in judged)
    assert tails[1223] < -5.0 < -2.0 < min(tails[:1200])
    assert model.bank.n == 56  # every day (the first from its 9th hour: its step measured)


def test_a_block_of_a_duration_missing_half_its_points_is_skipped() -> None:
    day0 = 86400.0 * 20_000
    points = [(day0 + 3600.0 * i, 5.0) for i in range(24 * 20)]
    gappy = [p for i, p in enumerate(points) if not (24 * 10 <= i < 24 * 10 + 13)]
    model, _ = _day_blocks(gappy)
    assert model.bank.n == 20 - 1  # day 10 lost 13 of its 24 points: not a mean of a day
    model, _ = _day_blocks([p for i, p in enumerate(points) if i != 24 * 10 + 5])
    assert model.bank.n == 20  # one point fewer: still the day's mean


def test_a_saved_block_of_a_negative_length_is_refused() -> None:
    saved = BlockMeans(0, duration_s=86400.0).saved()
    saved.block = -1
    with pytest.raises(StateError, match="block: must be at least 0, got -1"):
        BlockMeans.resume(saved)


def test_detector_names_the_block_model_and_its_band() -> None:
    # the shift model would judge a bump this long first: weighted out here
    d = Detector(
        DetectorSettings(
            warm_up=0, refractory=0, shift_weight=0.0, range_weight=0.0, coarse_blocks=(24,)
        )
    )
    points = _bump_series(1200, range(1000, 1048), 2.0)
    judged = []
    for t, x in points:
        if d.score_one(t, x) >= d.config.threshold:
            judged.append((d.explain().model, d.explain().expected_high))
    assert "coarse:24" in [m for m, _ in judged], judged
    high = next(h for m, h in judged if m == "coarse:24")
    assert 100.0 < high < 102.0  # the band of a block mean: well inside one noise width


def test_the_default_detector_judges_a_day_long_bump_by_the_day_and_says_so() -> None:
    # the day's mean is 10 standard errors high: the blocks of a day judge it at 23:00 UTC,
    # against a band of a day's mean (well inside one noise width)
    d = Detector(DetectorSettings(warm_up=0, refractory=0, shift_weight=0.0, range_weight=0.0))
    day0 = 86400.0 * math.ceil(T0_S / 86400.0)
    judged = {}
    for t, x in _bump_series(24 * 56, range(1200, 1224), 2.0):
        if d.score_one(day0 + t - T0_S, x) >= d.config.threshold:
            j = d.explain()
            judged[round((t - T0_S) / 3600.0)] = (j.model, j.expected_low, j.expected_high)
    model, low, high = judged[1223]
    assert model == "coarse:1d" and 99.0 < low < 100.0 < high < 101.0, judged
    assert [m for m, _, _ in judged.values()].count("coarse:1d") == 1


def test_detector_state_saved_before_the_block_model_continues() -> None:
    d = Detector(DetectorSettings(coarse_duration_s=()))
    for t, x in series(600):
        d.score_one(t, x)
    state = json.loads(json.dumps(d.to_dict()))
    del state["coarse"]  # as version 4 saved it: no block model, no setting
    del state["config"]["coarse_blocks"], state["config"]["coarse_duration_s"]
    same = Detector.from_dict(state)
    # today's default: the blocks of a day, learning afresh; the rest continues as it was
    assert same.config == DetectorSettings() and same.n == 600 and same.coarse[0].block == 0
    later = series(1200)[600:]
    assert [same.score_one(t, x) for t, x in later] == [d.score_one(t, x) for t, x in later]
    state["config"]["coarse_blocks"] = [24]  # the block model turned on since
    turned_on = Detector.from_dict(state)
    assert turned_on.n == 600 and turned_on.coarse[0].bank.n == 0  # it learns afresh
    assert len(turned_on.recurrences) == 4  # and its cap counts from now
    for t, x in series(1200)[600:]:
        turned_on.score_one(t, x)
    assert turned_on.coarse[0].bank.n == 600 // 24
