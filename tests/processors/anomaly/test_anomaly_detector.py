"""The streaming anomaly detector on seeded synthetic series."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from otel_perf.codec import StateError, decode
from otel_perf.processors.anomaly.detector import (
    DEFAULT_THRESHOLD,
    Detector,
    DetectorSettings,
    robust,
)

STEP_S = 60.0
T0_S = 1_700_000_000.0
ONSET = 1000  # index at which the synthetic anomaly starts
TESTDATA = Path(__file__).parent / "testdata"


def noisy(n: int, seed: int = 1, sd: float = 1.0) -> list[float]:
    rng = random.Random(seed)
    return [10.0 + rng.gauss(0.0, sd) for _ in range(n)]


def scores_of(values: list[float], detector: Detector | None = None, start: int = 0) -> list[float]:
    d = detector or Detector(seed=0)
    return [d.score_one(T0_S + (start + i) * STEP_S, x) for i, x in enumerate(values)]


def first_alert(scores: list[float], after: int = 0) -> int | None:
    for i, s in enumerate(scores[after:], start=after):
        if s >= DEFAULT_THRESHOLD:
            return i
    return None


def assert_flagged_soon(values: list[float], within: int = 5) -> None:
    scores = scores_of(values)
    assert first_alert(scores[:ONSET]) is None, "false alarm before the anomaly"
    alert = first_alert(scores, ONSET)
    assert alert is not None and alert - ONSET < within, alert


def test_spike_is_flagged() -> None:
    values = noisy(1200)
    values[ONSET] += 15.0
    assert_flagged_soon(values, within=1)


def test_level_shift_is_flagged() -> None:
    values = noisy(1200)
    values[ONSET:] = [x + 8.0 for x in values[ONSET:]]
    assert_flagged_soon(values, within=2)


def test_variance_change_is_flagged() -> None:
    rng = random.Random(7)
    values = noisy(ONSET) + [10.0 + rng.gauss(0.0, 6.0) for _ in range(200)]
    assert_flagged_soon(values, within=5)


def test_flat_line_is_flagged() -> None:
    values = noisy(ONSET) + [10.0] * 200
    assert_flagged_soon(values, within=5)


def test_direction_up_ignores_drops() -> None:
    values = noisy(1200)
    values[ONSET] -= 15.0
    scores = scores_of(values, Detector(DetectorSettings(direction="up")))
    assert first_alert(scores) is None


def seasonal(hours: int, seed: int = 3) -> list[tuple[float, float]]:
    """Hourly points, a daily cycle, quieter weekends and noise."""
    rng = random.Random(seed)
    points = []
    for h in range(hours):
        t_s = T0_S + h * 3600.0
        daily = 20.0 * math.sin(2 * math.pi * (h % 24) / 24)
        weekend = -15.0 if (h // 24) % 7 >= 5 else 0.0
        points.append((t_s, 100.0 + daily + weekend + rng.gauss(0.0, 2.0)))
    return points


def test_clean_daily_and_weekly_seasonality_raises_nothing_after_warm_up() -> None:
    d = Detector(seed=0)
    points = seasonal(24 * 7 * 8)
    scores = [d.score_one(t, x) for t, x in points]
    assert max(scores) < DEFAULT_THRESHOLD


def test_state_round_trips_through_json() -> None:
    values = noisy(1500)
    values[1200] += 20.0
    original = Detector(seed=0)
    scores_of(values[:700], original)
    restored = Detector.from_dict(json.loads(json.dumps(original.to_dict())))
    assert restored.to_dict() == original.to_dict()
    assert scores_of(values[700:], restored, 700) == scores_of(values[700:], original, 700)


def test_state_saved_before_the_recurrence_cap_continues_with_fresh_counts() -> None:
    values = noisy(1500)
    original = Detector(seed=0)
    scores_of(values[:700], original)
    state = original.to_dict()
    state["version"] = 2  # as the previous round saved it: no recurrence counts
    del state["recurrences"], state["raw"]
    restored = Detector.from_dict(json.loads(json.dumps(state)))
    assert restored.n == original.n
    assert restored.to_dict()["predictors"] == state["predictors"]
    assert restored.to_dict()["recurrences"] == Detector(seed=0).to_dict()["recurrences"]


def test_a_document_saved_by_the_hand_written_pairs_continues_identically() -> None:
    # written by main before the models' state went through typed documents: a detector
    # after 3,600 points of NAB's ec2_request_latency_system_failure, its next 300 points
    # and the scores that detector gave them
    golden = json.loads((TESTDATA / "detector_v4_main.json").read_text())
    restored = Detector.from_dict(golden["state"])
    # saved before the blocks of a day: the detector continues, with them learning afresh;
    # saved before the second model's weight: what it ran with, the largest score alone
    state, saved = restored.to_dict(), golden["state"]
    added = {"coarse_duration_s": [86400.0], "second_weight": 0.0}
    assert state["config"] == saved["config"] | added
    assert state["coarse"] == Detector().to_dict()["coarse"]  # a fresh model
    assert state["recurrences"][:3] == saved["recurrences"] and len(state["recurrences"]) == 4
    new = ("config", "coarse", "recurrences", "raw")
    assert {k: v for k, v in state.items() if k not in new} == {
        k: v for k, v in saved.items() if k not in new
    }
    assert [restored.score_one(t, x) for t, x in golden["next"]] == golden["scores"]


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        (
            ("predictors", "profiles", 0, "means", 3),
            "x",
            r"^\$\.predictors\.profiles\[0\]\.means\[3\]: ",
        ),
        (("shift", "direction"), "sideways", r"^\$\.shift\.direction: expected 'both'"),
        (("recurrences", 1, "stamps"), None, r"^\$\.recurrences\[1\]\.stamps: expected a list"),
        (("flat",), {"n": 1}, r"^\$\.flat\.\w+: missing \(a field of SavedFlat\)"),
        (("range", "colour"), 1, r"^\$\.range\.colour: not a field of SavedRange"),
        (("config",), None, r"^\$\.config: expected an object"),
        (("config", "second_weight"), "x", r"^\$\.config\.second_weight: expected a number"),
        (("config", "second_weight"), -1.0, r"^\$\.config\.second_weight: must be finite"),
        (("config", "coarse_duration_s"), [0], r"^\$\.config\.coarse_duration_s\[0\]: .* above 0"),
        (
            ("config", "coarse_duration_s"),
            86400,
            r"^\$\.config\.coarse_duration_s: expected a list",
        ),
    ],
)
def test_an_invalid_document_is_refused_naming_where(
    where: tuple[str | int, ...], value: object, message: str
) -> None:
    golden = json.loads((TESTDATA / "detector_v4_main.json").read_text())
    state = golden["state"]
    parent = state
    for key in where[:-1]:
        parent = parent[key]
    parent[where[-1]] = value
    with pytest.raises(StateError, match=message):
        decode(Detector, state)


def test_same_seed_same_output() -> None:
    values = noisy(1200, seed=5)
    values[ONSET] += 9.0
    assert scores_of(values, Detector(seed=3)) == scores_of(values, Detector(seed=3))


def _leaves(state: object) -> int:
    if isinstance(state, dict):
        return sum(_leaves(v) for v in state.values())
    if isinstance(state, list):
        return sum(_leaves(v) for v in state)
    return 1


def test_state_is_bounded() -> None:
    def state_size(n: int) -> int:
        d = Detector(seed=0)
        scores_of(noisy(n), d)
        return _leaves(d.to_dict())

    assert state_size(30_000) == state_size(3_000)


def test_scores_are_in_unit_interval_and_bad_points_are_ignored() -> None:
    d = Detector(seed=0)
    values = noisy(600) + [1e12, -1e12, 0.0]
    scores = scores_of(values, d)
    assert all(0.0 <= s <= 1.0 for s in scores)
    before = d.to_dict()
    assert d.score_one(T0_S + 1e6, math.nan) == 0.0
    assert d.score_one(math.inf, 1.0) == 0.0
    assert d.to_dict() == before


@pytest.mark.parametrize("score", [0.0, DEFAULT_THRESHOLD, 1.0])
def test_label_uses_the_threshold(score: float) -> None:
    assert Detector().label(score) is (score >= DEFAULT_THRESHOLD)


def bursty(n: int, seed: int = 3) -> list[float]:
    """Disk throughput: lognormal noise and, one minute in 120, a burst 4x the level on average."""
    rng = random.Random(seed)
    return [
        5.0e6 * math.exp(rng.gauss(0.0, 0.1))
        + (rng.expovariate(1 / 2.0e7) if rng.random() < 1 / 120 else 0.0)
        for _ in range(n)
    ]


def alerts(values: list[float], settings: DetectorSettings, after: int) -> list[int]:
    scores = scores_of(values, Detector(settings))
    return [i for i, s in enumerate(scores) if i >= after and s >= settings.threshold]


def test_recurring_bursts_stop_alerting_and_a_new_level_still_does() -> None:
    values = bursty(4 * 1440)
    warm_up = 1440
    capped = alerts(values, DetectorSettings(warm_up=warm_up), warm_up)
    uncapped = alerts(values, DetectorSettings(warm_up=warm_up, recurrence=False), warm_up)
    assert len(capped) < len(uncapped)
    shifted = values[:3000] + [3.0 * x for x in values[3000:3240]] + values[3240:]
    hits = alerts(shifted, DetectorSettings(warm_up=warm_up), warm_up)
    assert any(3000 <= i < 3240 for i in hits)


def error_ratio_points(n: int, seed: int = 3) -> list[tuple[float, float]]:
    """(ratio, calls) of a service with 0.4 % errors, busy by day and near idle at night."""
    rng = random.Random(seed)
    points = []
    for i in range(n):
        busy = (i // 360) % 4 != 0  # six quiet hours in every 24
        calls = float(rng.randint(800, 1200) if busy else rng.randint(1, 6))
        errors = sum(rng.random() < 0.004 for _ in range(int(calls)))
        points.append((errors / calls, calls))
    return points


def ratio_alerts(points: list[tuple[float, float]], counted: bool) -> list[int]:
    d = Detector(DetectorSettings(warm_up=1440, direction="up"))
    return [
        i
        for i, (x, calls) in enumerate(points)
        if d.score_one(T0_S + i * STEP_S, x, calls if counted else None) >= DEFAULT_THRESHOLD
    ]


def test_an_error_ratio_over_few_calls_is_judged_with_its_count() -> None:
    points = error_ratio_points(3 * 1440)
    night = next(i for i in range(2000, 3000) if points[i][1] <= 6)
    points[night] = (1 / 3, 3.0)  # one error in three calls: 33 %, and no news
    assert night in ratio_alerts(points, counted=False)  # the value alone calls it an anomaly
    assert ratio_alerts(points, counted=True) == []
    day = next(i for i in range(3000, 4000) if points[i][1] >= 800)
    points[day] = (0.1, 300.0)  # thirty in three hundred is
    assert ratio_alerts(points, counted=True) == [day]


def test_a_persistent_small_rise_in_the_error_ratio_is_found_by_its_counts() -> None:
    rng = random.Random(5)
    points = error_ratio_points(3 * 1440)
    for i in range(3240, 3300):  # 1.2 % instead of 0.4 % for a busy hour
        calls = points[i][1]
        errors = sum(rng.random() < 0.012 for _ in range(int(calls)))
        points[i] = (errors / calls, calls)
    hits = ratio_alerts(points, counted=True)
    assert hits and 3240 <= hits[0] < 3300 and all(i >= 3240 for i in hits)


def test_robust_settings_take_bursts_as_normal_and_still_find_a_shift() -> None:
    values = bursty(5 * 1440, seed=11)
    warm_up = 1440
    # a day after the warm-up the bursts' rate is learnt (~10 of them reach the top level)
    generic = alerts(values, DetectorSettings(warm_up=warm_up), 2 * 1440)
    calm = alerts(values, robust(DetectorSettings(warm_up=warm_up)), 2 * 1440)
    assert len(generic) >= 5 and len(calm) <= 2
    shifted = values[:5000] + [3.0 * x for x in values[5000:5240]] + values[5240:]
    hits = alerts(shifted, robust(DetectorSettings(warm_up=warm_up)), warm_up)
    assert any(5000 <= i < 5030 for i in hits)


def nightly_batch(n: int, seed: int = 2) -> list[float]:
    """CPU utilisation: a daily cycle, and a batch job from 02:00 to 02:30 every night."""
    rng = random.Random(seed)
    return [
        0.3
        + 0.08 * math.sin(2 * math.pi * (i % 1440) / 1440)
        + (0.35 if 120 <= i % 1440 < 150 else 0.0)
        + rng.gauss(0.0, 0.02)
        for i in range(n)
    ]


def test_robust_settings_know_a_nightly_job_the_daily_profile_has_seen() -> None:
    values = nightly_batch(5 * 1440)
    warm_up = 1440
    # the EWMA judges most points; it does not see the job coming, the daily profile does
    assert alerts(values, DetectorSettings(warm_up=warm_up), warm_up)
    assert alerts(values, robust(DetectorSettings(warm_up=warm_up)), warm_up) == []
    shifted = values[:5000] + [x + 0.2 for x in values[5000:5240]] + values[5240:]
    hits = alerts(shifted, robust(DetectorSettings(warm_up=warm_up)), warm_up)
    assert hits and 5000 <= hits[0] < 5005
