"""The version tracker through its saved document (``saved.SavedTracker``), as JSON."""

from __future__ import annotations

import json
import random

from otel_perf.processors.regression.saved import SavedTracker
from otel_perf.processors.regression.versions import VersionTracker


def test_a_pending_comparison_survives_the_saved_document() -> None:
    rng = random.Random(7)
    tracker = VersionTracker(window=5, max_series=10)
    for i in range(12):
        tracker.add("shop", "1.0", "GET /", rng.uniform(10, 20), i)
    for i in range(3):
        tracker.add("shop", "2.0", "GET /", rng.uniform(30, 40), 100 + i)
    again = VersionTracker(window=5, max_series=10)
    again.resume(SavedTracker.model_validate(json.loads(tracker.saved().model_dump_json())))
    assert again.pending == tracker.pending == {("shop", "GET /"): ("1.0", "2.0")}
    assert again.operations == {"shop": ["GET /"]} and again.current == {"shop": "2.0"}
    for i in range(2):  # the new version fills its window after the restart
        value = rng.uniform(30, 40)
        tracker.add("shop", "2.0", "GET /", value, 200 + i)
        again.add("shop", "2.0", "GET /", value, 200 + i)
    (expected,) = tracker.ready()
    assert again.ready() == [expected] and len(expected.new_samples) == 5


def test_samples_saved_before_their_times_were_kept_load_with_zero_times() -> None:
    saved = {
        "current": {"shop": "1.0"},
        "seen": {"shop": ["1.0"]},
        "samples": [["shop", "GET /", {"1.0": {"head": [1.0, 2.0], "tail": [1.0, 2.0]}}]],
        "pending": [],
    }
    tracker = VersionTracker(window=5, max_series=10)
    tracker.resume(SavedTracker.model_validate(saved))
    samples = tracker.samples[("shop", "GET /")]["1.0"]
    assert samples.head.tolist() == [1.0, 2.0] and samples.head_ns.tolist() == [0, 0]
    assert tracker.saved().samples[0][2]["1.0"].tail_ns == [0, 0]


def test_the_same_operation_and_version_on_many_services_are_held_once() -> None:
    def fresh(text: str) -> str:
        return "".join(list(text))  # equal, another object: as each batch decodes its own

    tracker = VersionTracker(window=5, max_series=10)
    for service in ("a", "b", "c"):
        tracker.add(fresh(service), fresh("2.0"), fresh("GET /items/{id}"), 10.0, 1)
    first, *others = (tracker.operations[s][0] for s in "abc")
    assert all(op is first for op in others)
    versions = [next(iter(tracker.samples[(s, "GET /items/{id}")])) for s in "abc"]
    assert versions[0] is versions[1] is versions[2] == "2.0"
