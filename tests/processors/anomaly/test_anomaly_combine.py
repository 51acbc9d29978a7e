"""The alarm stage's combination of the models' scores (processors/anomaly/combine.py)."""

from __future__ import annotations

import doctest
import math
import random

import pytest

from otel_perf.processors.anomaly import combine as combine_module
from otel_perf.processors.anomaly.combine import combine
from otel_perf.processors.anomaly.detector import MODELS, Detector, DetectorSettings

STEP_S = 300.0


def _series(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    values = [10.0 + math.sin(2 * math.pi * i / 288) + rng.gauss(0.0, 0.2) for i in range(n)]
    for i in range(n // 2, n):  # a step both the one-step predictors and the shift model see
        values[i] += 2.0
    return values


def test_the_docstring_examples_hold() -> None:
    result = doctest.testmod(combine_module, verbose=False)
    assert result.attempted >= 3 and result.failed == 0


@pytest.mark.parametrize(
    ("scores", "weight", "expected"),
    [
        ((0.3,), 0.5, 0.3),  # one model: no second
        ((0.1, 0.4, 0.4), 0.5, 0.6),  # ties: the second is the other 0.4
        ((0.0, 0.0, 0.0), 1.0, 0.0),
        ((0.6, 0.2), 0.0, 0.6),
    ],
)
def test_combine_is_the_largest_plus_the_weighted_second(
    scores: tuple[float, ...], weight: float, expected: float
) -> None:
    assert combine(scores, weight) == pytest.approx(expected)


def test_off_the_score_is_the_largest_model_score() -> None:
    off = Detector(DetectorSettings(second_weight=0.0, warm_up=0, refractory=0))
    for i, x in enumerate(_series(1500, seed=1)):
        assert off.score_one(STEP_S * i, x) == max(off.explain().scores)


def test_on_the_score_is_the_combination_of_the_model_scores() -> None:
    settings = DetectorSettings(second_weight=0.5, warm_up=0, refractory=0)
    plain = Detector(DetectorSettings(second_weight=0.0, warm_up=0, refractory=0))
    detector = Detector(settings)
    higher = 0
    for i, x in enumerate(_series(1500, seed=2)):
        score = detector.score_one(STEP_S * i, x)
        scores = detector.explain().scores
        assert len(scores) == len(MODELS)
        assert score == pytest.approx(combine(scores, 0.5))
        higher += score > plain.score_one(STEP_S * i, x)
    assert higher > 0  # some point two models found surprising scores more than the max


def test_a_counted_ratio_is_not_two_models() -> None:
    # the one-step and window slots of an error ratio with its calls judge the same counts
    detector = Detector(DetectorSettings(warm_up=0, refractory=0, direction="up"))
    rng = random.Random(3)
    for i in range(600):
        calls = float(rng.randint(800, 1200))
        errors = sum(rng.random() < 0.004 for _ in range(int(calls)))
        score = detector.score_one(STEP_S * i, errors / calls, calls)
        assert score == max(detector.explain().scores)
