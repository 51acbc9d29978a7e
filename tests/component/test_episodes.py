"""The episode helper: open after a streak, resolve after a quiet streak, bounded."""

from __future__ import annotations

import pytest

from otel_perf.component.episodes import Episodes


def evaluate(episodes: Episodes[int], present: list[str], value: int) -> list[str]:
    """One evaluation: breaching keys are put once allowed; returns the resolved keys."""
    for key in present:
        if episodes.breach(key):
            episodes.put(key, value)
    return [key for key, _ in episodes.sweep(present)]


def test_one_spike_does_not_open_and_one_quiet_evaluation_does_not_resolve() -> None:
    episodes = Episodes[int](max_keys=10, open_after=2, resolve_after=3)
    assert evaluate(episodes, ["db"], 1) == [] and episodes.get("db") is None
    assert evaluate(episodes, [], 2) == []  # the streak is broken
    assert evaluate(episodes, ["db"], 3) == [] and episodes.get("db") is None
    assert evaluate(episodes, ["db"], 4) == [] and episodes.get("db") == 4
    assert evaluate(episodes, [], 5) == [] and evaluate(episodes, [], 6) == []
    assert evaluate(episodes, ["db"], 7) == []  # back before resolving: the quiet streak restarts
    assert evaluate(episodes, [], 8) == [] and evaluate(episodes, [], 9) == []
    assert evaluate(episodes, [], 10) == ["db"] and len(episodes) == 0


def test_past_max_keys_the_least_recently_updated_is_forgotten_and_counted() -> None:
    episodes = Episodes[int](max_keys=2)
    evaluate(episodes, ["a", "b"], 1)
    evaluate(episodes, ["a", "b", "c"], 2)  # a and b updated first, so a is the oldest
    assert [key for key, _ in episodes.items()] == ["b", "c"] and episodes.dropped == 1


def test_defaults_open_at_once_and_resolve_at_the_first_absence() -> None:
    episodes = Episodes[str](max_keys=5)
    assert episodes.breach("x")
    episodes.put("x", "first")
    assert episodes.sweep(["x"]) == []
    assert episodes.sweep([]) == [("x", "first")]


@pytest.mark.parametrize("bad", [{"max_keys": 0}, {"open_after": 0}, {"resolve_after": 0}])
def test_bad_settings_say_what_is_wrong(bad: dict[str, int]) -> None:
    settings = {"max_keys": 5, **bad}
    with pytest.raises(ValueError, match="must|>= 1"):
        Episodes[int](**settings)
