"""Where a NAB score loses its points (benchmarks/_nab_diagnose.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # benchmarks/ is a top-level folder, not installed

from benchmarks import _nab_cv as cv  # noqa: E402
from benchmarks import _nab_diagnose as diagnose  # noqa: E402
from benchmarks import _nab_scoring as nab  # noqa: E402
from otel_perf.processors.anomaly.detector import MODELS, DetectorSettings  # noqa: E402

NAB_DIR = ROOT.parent / "shared" / "datasets" / "nab"
STANDARD = nab.CostMatrix(1.0, 0.11, 1.0)
STEP_S = 300.0


def _table(scores: np.ndarray, windows_rows: list[tuple[int, int]]) -> cv.Table:
    """A 200-row file whose per-model scores are given (the detector is not run)."""
    n = len(scores)
    timestamps_s = [1_700_000_000.0 + STEP_S * i for i in range(n)]
    series = cv.Series("made/up.csv", timestamps_s, [0.0] * n)
    windows = {series.name: [(timestamps_s[a], timestamps_s[b]) for a, b in windows_rows]}
    table = cv.Table([series], windows, STANDARD)
    table.scores[DetectorSettings()] = [scores]
    return table


def test_found_missed_and_false_alarms_are_where_the_scores_put_them() -> None:
    scores = np.zeros((200, len(MODELS)))
    scores[10, 0] = 0.9  # in the probationary period (30 rows): not scored at all
    scores[40, 0] = 0.9  # before the first window: a false alarm at full cost
    scores[120, 3] = 0.7  # in the first window, by the range model
    scores[125, 0] = 0.9  # later in the same window: adds nothing
    candidate = cv.Candidate(DetectorSettings(), cv.Decision(0.5, 0, 1.0))
    table = _table(scores, [(100, 139), (160, 179)])
    found = diagnose.diagnose(table, candidate, np.array([True]))

    first, second = found.windows
    assert (first.row, first.model, first.position) == (120, "range", 0.5)
    sweep = table.sweeps[0]
    assert first.credit == sweep.sweep_score[120]
    assert second.row is None and second.credit == 0.0 and second.model is None
    (alarm,) = found.false_alarms
    assert (alarm.row, alarm.model, alarm.cost) == (40, "predictors", -0.11)
    assert found.summary()["found"] == 1 and found.summary()["missed"] == 1


def test_the_losses_add_up_to_what_the_score_misses() -> None:
    rng = np.random.default_rng(0)
    scores = rng.uniform(0.0, 0.56, size=(200, len(MODELS)))  # a few rows cross 0.5
    candidate = cv.Candidate(DetectorSettings(), cv.Decision(0.5, 5, 1.0))
    table = _table(scores, [(60, 79), (150, 169)])
    found = diagnose.diagnose(table, candidate, np.array([True]))
    raw = table.raw(candidate)
    assert found.raw() == pytest.approx(float(raw.sum()))
    score = table.normalised(raw, np.array([True]))
    assert sum(found.losses().values()) == pytest.approx(100.0 - score, abs=0.02)
    assert found.false_alarms, "the random scores should raise some false alarms"


def test_a_refractory_period_can_hide_a_window() -> None:
    # an alert just before a window keeps the detector quiet through it
    scores = np.zeros((200, len(MODELS)))
    scores[95, 0] = scores[110, 0] = 0.9
    table = _table(scores, [(100, 139)])
    quiet = cv.Candidate(DetectorSettings(), cv.Decision(0.5, 50, 1.0))
    eager = cv.Candidate(DetectorSettings(), cv.Decision(0.5, 10, 1.0))
    assert diagnose.diagnose(table, quiet, np.array([True])).windows[0].row is None
    assert diagnose.diagnose(table, eager, np.array([True])).windows[0].row == 110


def test_on_nab_the_diagnosis_is_the_scorer_s_verdict() -> None:
    names = ["realAdExchange/exchange-4_cpc_results.csv", "artificialNoAnomaly/art_noisy.csv"]
    if not all((NAB_DIR / "data" / n).exists() for n in names):
        pytest.skip("the NAB development subset is not on this machine")
    windows = nab.load_windows(NAB_DIR / "labels" / "combined_windows.json")
    table = cv.Table(cv.load_series(NAB_DIR / "data", names), windows, STANDARD)
    candidate = cv.shipped()
    table.add(candidate.settings)
    found = diagnose.diagnose(table, candidate, np.array([True, True]))
    assert found.raw() == pytest.approx(float(table.raw(candidate).sum()))
    assert len(found.windows) == 3
    for w in found.windows:
        assert w.row is None or (w.first_row <= w.row <= w.last_row and w.model in MODELS)
    lines = diagnose.render(found)
    assert sum("MISSED" in line or "found at" in line for line in lines) == 3
