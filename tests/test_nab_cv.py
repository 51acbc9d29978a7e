"""The leave-one-category-out harness (benchmarks/_nab_cv.py) and the telemetry benchmark."""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # benchmarks/ is a top-level folder, not installed

from benchmarks import _nab_cv as cv  # noqa: E402
from benchmarks import _nab_scoring as nab  # noqa: E402
from benchmarks import anomaly_telemetry  # noqa: E402
from otel_perf.processors.anomaly.detector import Detector, DetectorSettings  # noqa: E402

NAB_DIR = ROOT.parent / "shared" / "datasets" / "nab"
FILE = "realAdExchange/exchange-4_cpc_results.csv"


def _series() -> cv.Series:
    if not (NAB_DIR / "data" / FILE).exists():
        pytest.skip("the NAB development subset is not on this machine")
    return cv.load_series(NAB_DIR / "data", [FILE])[0]


@pytest.mark.parametrize(
    ("decision", "settings"),
    [
        (cv.Decision(0.5, 50, 1.0), DetectorSettings()),
        (cv.Decision(0.45, 100, 0.0), DetectorSettings()),
        (cv.Decision(0.55, 50, 1.0, 0.0), DetectorSettings()),
        (cv.Decision(0.5, 100, 1.0), DetectorSettings(coarse_blocks=(24,))),
        (cv.Decision(0.5, 100, 1.0, 1.0, 0.0), DetectorSettings(coarse_blocks=(24,))),
        (cv.Decision(0.5, 100, 1.0, 1.0, 0.0), DetectorSettings()),
        (cv.Decision(0.55, 100, 1.0, second_weight=0.5), DetectorSettings()),
        (cv.Decision(0.5, 50, 1.0, second_weight=1.0), DetectorSettings()),
        (cv.Decision(0.55, 100, 1.0, 1.0, 0.0, 0.5), DetectorSettings()),
    ],
)
def test_detections_after_the_fact_are_what_the_detector_does(
    decision: cv.Decision, settings: DetectorSettings
) -> None:
    series = _series()
    warm_up = math.ceil(nab.probationary_length(len(series.values)))
    scores = cv.model_scores(series, settings)
    predicted = cv.detections(scores, decision, warm_up)
    full = replace(cv.Candidate(settings, decision).detector_settings(), warm_up=warm_up)
    detector = Detector(full)
    actual = [
        detector.score_one(t, x) >= full.threshold
        for t, x in zip(series.timestamps_s, series.values, strict=True)
    ]
    assert predicted.any() and predicted.tolist() == actual


def test_cross_validation_picks_on_the_other_categories_only() -> None:
    # two files of two categories: each fold is chosen on the other file alone
    windows = nab.load_windows(NAB_DIR / "labels" / "combined_windows.json")
    names = [FILE, "artificialWithAnomaly/art_daily_jumpsup.csv"]
    if not all((NAB_DIR / "data" / n).exists() for n in names):
        pytest.skip("the NAB development subset is not on this machine")
    table = cv.Table(
        cv.load_series(NAB_DIR / "data", names), windows, nab.CostMatrix(1.0, 0.11, 1.0)
    )
    candidates = cv.grid([DetectorSettings()], (0.3, 0.5, 0.9), (50,), (1.0,))
    table.add(DetectorSettings())
    result = cv.cross_validate(table, candidates)
    raws = np.stack([table.raw(c) for c in candidates])
    for k, category in enumerate(["realAdExchange", "artificialWithAnomaly"]):
        other = 1 - k
        chosen = result.folds[category]["choice"]
        best_on_other = candidates[int(np.argmax(raws[:, other]))]
        assert chosen == best_on_other
        assert result.folds[category]["held_out_raw"] == round(
            float(raws[candidates.index(chosen), k]), 3
        )


def test_telemetry_benchmark_prints_figures_then_json(capsys: pytest.CaptureFixture[str]) -> None:
    anomaly_telemetry.main(["--days", "3", "--seeds", "1"])
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    for sensitivity in ("low", "medium", "high"):
        figures = summary[sensitivity]
        assert figures["faults"] == len(anomaly_telemetry.FAULTS)
        assert 0.0 <= figures["detection_rate"] <= 1.0
        assert figures["false_alarms_per_series_day"] >= 0.0
        # the false alarms by series add up to the total
        by_signal = figures["false_alarms_by_signal"]
        assert set(by_signal) == set(anomaly_telemetry.SERIES_NAMES)
        assert sum(by_signal.values()) == figures["false_alarms"]
    # a more sensitive setting never raises fewer alarms on the same series
    assert (
        summary["low"]["false_alarms"]
        <= summary["medium"]["false_alarms"]
        <= summary["high"]["false_alarms"]
    )
    assert any("sensitivity" in line for line in lines[:-1])


def test_telemetry_faults_are_injected_where_they_say() -> None:
    cases = anomaly_telemetry.cases(3, 1)
    by_name = {c.name: c for c in cases}
    for fault, (signal, _, _) in anomaly_telemetry.FAULTS.items():
        name = anomaly_telemetry.SERIES_NAMES[signal]
        faulty, clean = by_name[f"{name}#{fault}"], by_name[f"{name}#clean-{fault}"]
        assert faulty.onset is not None and clean.onset is None
        differs = np.flatnonzero(faulty.values != clean.values)
        assert differs.min() >= faulty.onset and differs.max() < faulty.end


def test_the_error_ratio_carries_its_calls_and_nothing_else_does() -> None:
    for case in anomaly_telemetry.cases(days=3, seeds=1):
        if "error_ratio" not in case.name:
            assert case.counts is None
            continue
        assert case.counts is not None and case.counts.shape == case.values.shape
        if case.onset is None:  # clean: whole errors over whole calls
            errors = case.values * case.counts
            assert np.allclose(errors, np.round(errors), atol=1e-6)


def test_other_seeds_give_other_series() -> None:
    first = {c.name: c.values for c in anomaly_telemetry.cases(days=3, seeds=1)}
    held_out = {c.name: c.values for c in anomaly_telemetry.cases(days=3, seeds=1, first_seed=3)}
    assert first.keys() == held_out.keys()
    assert all(not np.array_equal(first[k], held_out[k]) for k in first)


def test_error_bursts_are_found_and_the_clean_ratio_stays_quiet() -> None:
    ratios = [c for c in anomaly_telemetry.cases(days=3, seeds=1) if "error_ratio" in c.name]
    for case in ratios:
        outcome = anomaly_telemetry.run(case, "medium")
        if case.onset is None:
            assert outcome.opened == []
        else:
            assert any(case.onset <= i < case.end for i in outcome.opened)
            assert all(i >= case.onset for i in outcome.opened)


def test_with_the_block_model_each_candidate_is_there_on_and_off() -> None:
    plain = cv.default_grid(DetectorSettings(coarse_duration_s=(), second_weight=0.0))
    coarse = DetectorSettings(coarse_blocks=(24,), coarse_duration_s=(), second_weight=0.0)
    both = cv.default_grid(coarse)
    assert len(plain) == 24 and len(both) == 48
    assert sorted(c.decision.coarse_weight for c in both) == [0.0] * 24 + [1.0] * 24
    assert "coarse_weight=0.0" in cv.describe(both[-1], coarse)


def test_with_the_second_model_each_candidate_is_there_with_it_and_without() -> None:
    base = DetectorSettings(coarse_duration_s=())  # the second model's weight 0.5, by default
    both = cv.default_grid(base)
    assert base.second_weight == 0.5 and len(both) == 48
    assert sorted(c.decision.second_weight for c in both) == [0.0] * 24 + [0.5] * 24
    assert "second_weight=0.5" in cv.describe(both[-1], base)
    assert "second_weight=0.0" in cv.describe(both[0], base)
    assert cv.shipped(base).decision == cv.Decision(0.55, 100, 1.0, second_weight=0.5)
    # without it, the grid and its describe lines are what they were
    off = DetectorSettings(coarse_duration_s=(), second_weight=0.0)
    assert len(cv.default_grid(off)) == 24
    assert "second_weight" not in cv.describe(cv.default_grid(off)[0], off)


def test_the_default_grid_offers_both_round_7_changes_on_and_off() -> None:
    joint = cv.default_grid()  # the blocks of a day and the second model's weight, by default
    assert len(joint) == 96 and len(set(joint)) == 96
    pairs = Counter((c.decision.coarse_weight, c.decision.second_weight) for c in joint)
    assert pairs == {(1.0, 0.0): 24, (1.0, 0.5): 24, (0.0, 0.0): 24, (0.0, 0.5): 24}
    shipped = cv.shipped()
    assert shipped in joint
    assert shipped.decision == cv.Decision(0.55, 100, 1.0, 1.0, 1.0, 0.5)
    assert cv.describe(shipped) == "threshold=0.55 refractory=100 second_weight=0.5"


def test_the_threshold_grid_can_be_widened() -> None:
    off = DetectorSettings(coarse_duration_s=(), second_weight=0.0)
    wide = cv.default_grid(off, thresholds=(0.45, 0.5, 0.55, 0.6))
    assert len(wide) == 32 and len(cv.default_grid(thresholds=(0.45, 0.5, 0.55, 0.6))) == 128
    assert sorted({c.decision.threshold for c in wide}) == [0.45, 0.5, 0.55, 0.6]
