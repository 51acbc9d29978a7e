"""NAB scoring (benchmarks/_nab_scoring.py) against NAB's own definitions and published figures."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # benchmarks/ is a top-level folder, not installed

from benchmarks import _nab_scoring as nab  # noqa: E402

NAB_DIR = ROOT.parent / "shared" / "datasets" / "nab"
# NAB's config/thresholds.json for the numenta detector
NUMENTA_THRESHOLDS = {
    "standard": 0.5421876907,
    "reward_low_FP_rate": 0.5751955032,
    "reward_low_FN_rate": 0.5421876907,
}
# README of the dataset: normalised scores of the numenta detector on this 24-file subset
EXPECTED = {"standard": 64.9, "reward_low_FP_rate": 58.3, "reward_low_FN_rate": 69.7}
STANDARD = nab.CostMatrix(tp_weight=1.0, fp_weight=0.11, fn_weight=1.0)


def test_scaled_sigmoid_matches_nab_docstring() -> None:
    assert nab.scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert nab.scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert nab.scaled_sigmoid(0.0) == 0.0
    assert nab.scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=1e-5)
    assert nab.scaled_sigmoid(3.0) == -1.0


def test_probationary_length() -> None:
    assert nab.probationary_length(4032) == 604
    assert nab.probationary_length(22695) == 750.0
    assert nab.probationary_length(10) == 1


def _toy() -> nab.FileSweep:
    timestamps = [float(i) for i in range(100)]  # probation: first 15 rows
    return nab.sweep_file(timestamps, [(40.0, 49.0)], STANDARD)


def test_earliest_detection_in_window_scores_tp_weight() -> None:
    scores = np.zeros(100)
    scores[40] = scores[45] = 1.0  # the second detection in the window is free
    assert nab.score_file(_toy(), scores, 0.5) == pytest.approx(1.0)


def test_missed_window_costs_fn_and_probation_is_ignored() -> None:
    scores = np.zeros(100)
    scores[3] = 1.0
    assert nab.score_file(_toy(), scores, 0.5) == pytest.approx(-1.0)


def test_false_positives_before_and_after_a_window() -> None:
    scores = np.zeros(100)
    scores[20] = 1.0  # before any window: -fp_weight
    assert nab.score_file(_toy(), scores, 0.5) == pytest.approx(-1.0 - 0.11)
    scores[20] = 0.0
    scores[50] = 1.0  # right after the window: almost free
    position = 1 / 9
    expected = -1.0 + 0.11 * (2 / (1 + math.exp(5 * position)) - 1)
    assert nab.score_file(_toy(), scores, 0.5) == pytest.approx(expected)


def test_optimiser_agrees_with_scoring_at_its_threshold() -> None:
    rng = np.random.default_rng(0)
    scores = rng.random(100)
    threshold, raw = nab.optimise_threshold([_toy()], [scores])
    assert raw == pytest.approx(nab.score_file(_toy(), scores, threshold))
    for t in np.linspace(0, 1, 21):
        assert nab.score_file(_toy(), scores, float(t)) <= raw + 1e-12


def test_normalise() -> None:
    assert nab.normalise(-39.0, 39, STANDARD) == 0.0
    assert nab.normalise(39.0, 39, STANDARD) == 100.0


@pytest.mark.skipif(not NAB_DIR.is_dir(), reason="NAB subset not present")
@pytest.mark.parametrize("profile", sorted(EXPECTED))
def test_numenta_reference_scores(profile: str) -> None:
    windows = nab.load_windows(NAB_DIR / "labels" / "combined_windows.json")
    cost = nab.load_profiles(NAB_DIR / "config" / "profiles.json")[profile]
    raw = 0.0
    for name, limits in windows.items():
        category, file = name.split("/")
        path = NAB_DIR / "reference" / "numenta" / category / f"numenta_{file}"
        timestamps_s, scores = nab.read_series(path, "anomaly_score")
        sweep = nab.sweep_file(timestamps_s, limits, cost)
        raw += nab.score_file(sweep, np.asarray(scores), NUMENTA_THRESHOLDS[profile])
    n_windows = sum(len(v) for v in windows.values())
    assert n_windows == 39
    assert nab.normalise(raw, n_windows, cost) == pytest.approx(EXPECTED[profile], abs=0.1)
