"""The alarm rules measured in round 7 (benchmarks/_nab_alarm.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # benchmarks/ is a top-level folder, not installed

from benchmarks import _nab_alarm as alarm  # noqa: E402
from benchmarks import _nab_cv as cv  # noqa: E402
from benchmarks import _nab_scoring as nab  # noqa: E402
from benchmarks import nab as nab_benchmark  # noqa: E402
from otel_perf.processors.anomaly.detector import MODELS  # noqa: E402

NAB_DIR = ROOT.parent / "shared" / "datasets" / "nab"
DECISION = cv.Decision(0.5, 10, 1.0)


def _scores(alarms: dict[int, tuple[int, float]], n: int = 200) -> np.ndarray:
    """Per-model scores, 0 but at ``row: (model, score)``."""
    scores = np.zeros((n, len(MODELS)))
    for row, (model, score) in alarms.items():
        scores[row, model] = score
    return scores


def test_rules_that_never_act_are_the_detectors_rule() -> None:
    rng = np.random.default_rng(0)
    scores = rng.uniform(0.0, 0.6, size=(500, len(MODELS)))
    expected = cv.detections(scores, DECISION, 20)
    assert expected.sum() > 3
    for rule in (
        alarm.adaptive_threshold(0.0, 100, 0),
        alarm.history_confirmation(float("inf"), 0.3, 0),
    ):
        assert rule(scores, DECISION, 20).tolist() == expected.tolist()


def test_the_adaptive_threshold_rises_after_an_alarm_and_decays_back() -> None:
    scores = _scores({20: (0, 0.6), 40: (0, 0.6), 190: (0, 0.6)})
    rule = alarm.adaptive_threshold(0.2, 10, 0)
    # half-life 10: 20 points after the first alarm its threshold is 0.5 + 0.2 / 4 = 0.55
    assert np.flatnonzero(rule(scores, DECISION, 0)).tolist() == [20, 40, 190]
    slow = alarm.adaptive_threshold(0.2, 1000, 0)
    assert np.flatnonzero(slow(scores, DECISION, 0)).tolist() == [20]


def test_only_a_quick_return_raises_the_threshold_when_asked() -> None:
    quick = alarm.adaptive_threshold(0.3, 1000, 5)
    brief = _scores({20: (0, 0.6), 40: (0, 0.6)})  # back to 0 at once
    assert np.flatnonzero(quick(brief, DECISION, 0)).tolist() == [20]
    lasting = brief.copy()
    lasting[20:27, 0] = 0.6  # stays surprising past the 5 points: no raise
    assert np.flatnonzero(quick(lasting, DECISION, 0)).tolist() == [20, 40]


def test_an_often_alarming_model_needs_a_second_model() -> None:
    rows = {20: (0, 0.6), 40: (0, 0.6), 60: (0, 0.6), 80: (3, 0.6)}
    scores = _scores(rows)
    rule = alarm.history_confirmation(2, 0.3, 0)
    # the predictors' third alarm wants a second model; the range model's first does not
    assert np.flatnonzero(rule(scores, DECISION, 0)).tolist() == [20, 40, 80]
    scores[60, 1] = 0.35  # the shift model agrees
    assert np.flatnonzero(rule(scores, DECISION, 0)).tolist() == [20, 40, 60, 80]


def test_the_logistic_fit_separates_what_is_separable() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 2))
    y = (x[:, 0] > 0).astype(np.float64)
    w = alarm.fit_logistic(x, y, np.ones(200), 1e-4)
    predicted = (x @ w[1:] + w[0]) > 0
    assert (predicted == (y > 0)).mean() > 0.97 and w[1] > abs(w[2])


def test_candidates_carry_nab_costs() -> None:
    times = [300.0 * i for i in range(100)]
    sweep = nab.sweep_file(times, [(times[50], times[59])], nab.CostMatrix(1.0, 0.11, 1.0), 0.1)
    labels, weights = alarm.targets(sweep, [5, 20, 52, 55, 80])
    assert labels.tolist() == [0.0, 0.0, 1.0, 1.0, 0.0]
    assert weights[0] == 0.0  # in the probationary period: no weight
    assert weights[1] == pytest.approx(0.11)  # before the first window: A_FP
    assert weights[2] == pytest.approx(sweep.sweep_score[52] + 1.0)  # credit + the miss saved
    assert weights[3] == 0.0  # not the window's first: nothing more to win
    assert 0.0 < weights[4] < 0.11  # after a window: cheaper


def test_features_are_finite_and_one_row_per_candidate() -> None:
    scores = _scores({20: (0, 0.6), 40: (0, 0.9), 140: (3, 1.0)})
    rows = alarm.candidates(scores, 0)
    assert rows == [20, 140]  # the detector's alarms: 40 is in 20's refractory period
    for history in (False, True):
        x = alarm.features(scores, rows, history)
        assert x.shape == (2, len(MODELS) + 1 + 2 * history) and np.isfinite(x).all()
    assert alarm.features(scores, [], True).shape == (0, len(MODELS) + 3)


def test_report_on_two_categories(capsys: pytest.CaptureFixture[str]) -> None:
    names = [
        "realAdExchange/exchange-4_cpc_results.csv",
        "artificialWithAnomaly/art_daily_jumpsup.csv",
    ]
    if not all((NAB_DIR / "data" / n).exists() for n in names):
        pytest.skip("the NAB development subset is not on this machine")
    windows = nab.load_windows(NAB_DIR / "labels" / "combined_windows.json")
    series = cv.load_series(NAB_DIR / "data", names)
    out = alarm.report(series, windows, nab.CostMatrix(1.0, 0.11, 1.0))
    assert set(out) == {"detector", *alarm.RULES, "learned combiner"} | {
        "learned combiner with the series' alarm history"
    }
    assert all(-100.0 <= v["pooled"] <= 100.0 for v in out.values())
    assert "the largest model score (g = 0)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--thresholds", "0.5,x"], "expected numbers separated by commas, got '0.5,x'"),
        (["--thresholds", "0.5,1.5"], "expected 1 to 12 thresholds in (0, 1], got '0.5,1.5'"),
        (["--second-model", "3"], "must be between 0 and 2, got 3"),
        (["--second-model", "half"], "expected a number, got 'half'"),
    ],
)
def test_the_nab_flags_name_what_they_cannot_use(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        nab_benchmark.main(argv)
    err = capsys.readouterr().err
    assert message in err and argv[0] in err
