"""A series' first points wait, raw, for its detector: same answers as scoring them live."""

from __future__ import annotations

import json
import random
import tracemalloc
from typing import Any

import pytest

from otel_perf.processors.anomaly.config import AnomalyConfig
from otel_perf.processors.anomaly.history import History
from otel_perf.processors.anomaly.series import (
    DEFERRED_POINTS,
    SeriesState,
    new_detector,
    settings_for,
)

S = 1_000_000_000
T0 = 1_700_000_000 * S
NAMES = ("span.rate{shop GET /cart}", "span.error_ratio{shop GET /cart}")


def live(name: str, config: AnomalyConfig) -> SeriesState:
    """The series as scored before deferral: a detector from the first point."""
    settings = settings_for(name, config)
    assert settings is not None
    history = History(settings.history_points)
    return SeriesState(name, "shop", settings, new_detector(settings), history=history)


def deferred(name: str, config: AnomalyConfig) -> SeriesState:
    settings = settings_for(name, config)
    assert settings is not None
    return SeriesState.new(name, "shop", settings)


def points(n: int, seed: int) -> list[tuple[int, float, float | None]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        calls = float(rng.randrange(1, 50))
        errors = rng.randrange(0, 3)
        out.append((T0 + i * 10 * S, errors / calls, calls))
    return out


def observe(state: SeriesState, point: tuple[int, float, float | None]) -> Any:
    t_ns, value, calls = point
    if state.name.startswith("span.error_ratio"):
        return state.observe(t_ns, value, "anomaly", calls)
    return state.observe(t_ns, 100.0 + 50 * value, "anomaly")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("warm_up", [0, 5, DEFERRED_POINTS, 40])
def test_every_answer_is_the_live_one_at_every_point(name: str, warm_up: int) -> None:
    config = AnomalyConfig(warm_up=warm_up, history_points=20)
    reference, state = live(name, config), deferred(name, config)
    for point in points(DEFERRED_POINTS + 30, seed=warm_up):
        found, expected = observe(state, point), observe(reference, point)
        assert found == expected
        assert state.view() == reference.view()
        assert (state.points, state.last_score, state.last_t_ns) == (
            reference.points,
            reference.last_score,
            reference.last_t_ns,
        )
    assert state.to_dict() == reference.to_dict()
    assert state.detector.to_dict() == reference.detector.to_dict()


def test_a_spike_after_the_deferred_points_opens_the_same_episode() -> None:
    config = AnomalyConfig(warm_up=DEFERRED_POINTS + 10)
    name = "metric:queue.depth{worker}"
    reference, state = live(name, config), deferred(name, config)
    rng = random.Random(3)
    values = [100 + rng.gauss(0, 2) for _ in range(200)] + [300.0]
    findings = []
    for i, value in enumerate(values):
        t_ns = T0 + i * 10 * S
        found = state.observe(t_ns, value, "anomaly")
        assert found == reference.observe(t_ns, value, "anomaly")
        findings += [found] if found is not None else []
    assert [f.state for f in findings] == ["open"]
    assert state.view() == reference.view()


def test_deferred_points_round_trip_through_saved_state() -> None:
    config = AnomalyConfig()
    name = NAMES[1]
    first, reference = deferred(name, config), live(name, config)
    for point in points(7, seed=1):
        observe(first, point)
        observe(reference, point)
    saved = json.loads(json.dumps(first.to_dict(), allow_nan=False))
    assert set(saved) == {"deferred"} and len(saved["deferred"]) == 7
    again = deferred(name, config)
    again.restore(saved)
    assert again.built is None and again.points == 7 and not again.dirty
    for point in points(DEFERRED_POINTS + 5, seed=2)[7:]:
        assert observe(again, point) == observe(reference, point)
    assert again.to_dict() == reference.to_dict()


def test_a_deferred_series_holds_a_fraction_of_a_built_one() -> None:
    config = AnomalyConfig()
    name = NAMES[0]
    sizes = []
    for make in (deferred, live):
        tracemalloc.start()
        try:
            states = [make(name, config) for _ in range(200)]
            for state in states:
                for point in points(4, seed=0):
                    observe(state, point)
            sizes.append(tracemalloc.get_traced_memory()[0] / len(states))
        finally:
            tracemalloc.stop()
    held, built = sizes
    assert held * 5 < built, sizes


def test_waiting_series_share_one_empty_history_and_each_built_one_has_its_own() -> None:
    config = AnomalyConfig(history_points=20)
    first, second = deferred(NAMES[0], config), deferred(NAMES[0], config)
    assert first.history is second.history and not first.history.view()
    with pytest.raises(RuntimeError, match="before its detector"):
        first.history.append(T0, 1.0, 0.0, 2.0, 0.0)
    for point in points(DEFERRED_POINTS + 3, seed=4):
        observe(first, point)
    assert first.built is not None and first.history is not second.history
    assert len(first.history) == min(20, DEFERRED_POINTS + 3) and not second.history.view()
    restored = deferred(NAMES[0], config)
    restored.restore(json.loads(json.dumps(first.to_dict())))
    assert restored.history is not second.history
    assert restored.history.view() == first.history.view()
