"""The state persistence helpers over a real store: typed, throttled, dirty-tracked; one
document, or one per key with only the changed ones written."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import BaseModel

from otel_perf.component.state import (
    Document,
    PersistedState,
    PersistedStates,
    changed_keys,
)
from otel_perf.store import Store, StoreWriteError

NS = 1_000_000_000


class Counts(BaseModel):
    hits: int
    names: list[str]


@pytest.fixture
def store() -> Iterator[Store]:
    opened = Store(":memory:", 1000)
    yield opened
    opened.close()


def state(store: Store, interval_s: float = 60.0) -> PersistedState[Counts]:
    return PersistedState(store, "demo/a", "counts", Counts, interval_s)


def test_nothing_is_written_until_something_changed_then_at_most_once_per_interval(
    store: Store,
) -> None:
    doc = state(store)
    built: list[int] = []

    def build() -> Counts:
        built.append(1)
        return Counts(hits=len(built), names=["x"])

    assert doc.flush(10 * NS, build) is False and built == []  # clean: nothing to write
    doc.mark_dirty()
    assert doc.flush(20 * NS, build) is False  # within 60 s of the last flush at 10 s
    assert doc.flush(70 * NS, build) is True
    assert store.load_state("demo/a", "counts") == {"hits": 1, "names": ["x"]}
    doc.mark_dirty()
    assert doc.flush(100 * NS, build) is False
    doc.close(100 * NS, build)  # shutdown writes what is unsaved, whatever the interval
    assert state(store).load() == Counts(hits=2, names=["x"])
    doc.close(200 * NS, build)
    assert len(built) == 2  # nothing changed since: no third write


def test_a_document_that_no_longer_validates_is_left_behind_with_a_warning(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    store.save_state("demo/a", "counts", {"hits": "many"}, 1)
    with caplog.at_level(logging.WARNING, logger="otel_perf.component.state"):
        assert state(store).load() is None
    assert "demo/a: saved state 'counts' unreadable, does not match Counts" in caplog.text
    assert "$.hits: Input should be a valid integer" in caplog.text
    assert PersistedState(store, "demo/b", "counts", Counts, 60).load() is None  # none saved


def test_a_failed_write_keeps_the_document_dirty(store: Store) -> None:
    doc = state(store, interval_s=0)
    doc.mark_dirty()

    def broken() -> Counts:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        doc.save(1 * NS, broken)
    assert doc.dirty
    assert doc.save(2 * NS, lambda: Counts(hits=1, names=[])) and not doc.dirty


@dataclass
class Tally:
    hits: int
    by_route: dict[str, int] = field(default_factory=dict)


def versioned(store: Store, version: int = 2) -> PersistedState[Tally]:
    def v0_to_v1(body: dict[str, Any]) -> dict[str, Any]:
        return {"hits": body["count"]}

    def v1_to_v2(body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "by_route": {}}

    steps = {0: v0_to_v1, 1: v1_to_v2}
    return PersistedState(store, "demo/a", "tally", Tally, 60, version=version, migrations=steps)


def test_a_versioned_dataclass_document_round_trips_with_its_version(store: Store) -> None:
    doc = versioned(store)
    doc.mark_dirty()
    doc.save(NS, lambda: Tally(3, {"/a": 3}))
    saved = store.load_state("demo/a", "tally")
    assert saved == {"version": 2, "state": {"hits": 3, "by_route": {"/a": 3}}}
    assert versioned(store).load() == Tally(3, {"/a": 3})


def test_older_versions_migrate_step_by_step(store: Store) -> None:
    store.save_state("demo/a", "tally", {"count": 5}, 1)  # bare: before versions (0)
    assert versioned(store).load() == Tally(5, {})
    store.save_state("demo/a", "tally", {"version": 1, "state": {"hits": 6}}, 1)
    assert versioned(store).load() == Tally(6, {})


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"version": 3, "state": {"hits": 1}}, "$.version: 3 is not a version this build reads"),
        ({"version": "2", "state": {}}, "$.version: '2' is not a version"),
        ({"version": 2, "state": {"hits": 1, "by_route": {"/a": "x"}}}, "$.by_route['/a']"),
        ({"version": 2, "state": {"by_route": {}}}, "$.hits: missing"),
    ],
)
def test_another_version_or_a_damaged_document_is_discarded_once_with_its_path(
    store: Store, caplog: pytest.LogCaptureFixture, body: Any, said: str
) -> None:
    store.save_state("demo/a", "tally", body, 1)
    doc = versioned(store)
    with caplog.at_level(logging.WARNING, logger="otel_perf.component.state"):
        assert doc.load() is None
    (warning,) = caplog.records
    assert "demo/a: saved state 'tally' unreadable" in warning.getMessage()
    assert said in warning.getMessage() and doc.discarded == 1


def test_without_a_migration_an_older_version_is_discarded(store: Store) -> None:
    store.save_state("demo/a", "tally", {"hits": 1}, 1)
    doc = PersistedState(store, "demo/a", "tally", Tally, 60, version=1)
    assert doc.load() is None and doc.discarded == 1
    assert doc.kind.read({"version": 1, "state": {"hits": 1}}) == Tally(1)


def keyed(store: Store) -> PersistedStates[Tally]:
    return PersistedStates(store, "demo/a", Document(Tally), 60.0, prefix="tally/")


def test_only_changed_documents_are_written_at_most_once_per_interval(store: Store) -> None:
    docs = keyed(store)
    tallies = {"x": Tally(1, {"/a": 1}), "y": Tally(2)}
    docs.mark_dirty("x")
    assert docs.flush(10 * NS, tallies.get) == 1
    assert store.load_state("demo/a", "tally/x") == {"hits": 1, "by_route": {"/a": 1}}
    assert store.load_state("demo/a", "tally/y") is None
    docs.mark_dirty("y")
    assert docs.flush(30 * NS, tallies.get) == 0  # within the interval: still dirty
    assert docs.flush(70 * NS, tallies.get) == 1
    assert keyed(store).load("y") == Tally(2, {})
    docs.mark_dirty("gone")  # build answers None: nothing written, no longer dirty
    assert docs.save(80 * NS, tallies.get) == 0 and not docs.dirty


@dataclass
class Series:
    points: int
    dirty: bool = False


def test_changed_keys_are_taken_only_when_due_and_a_failed_write_leaves_them_dirty(
    store: Store,
) -> None:
    docs = PersistedStates(store, "demo/a", Document(dict[str, int]), 60.0)
    series = {"a": Series(1, dirty=True), "b": Series(2), "c": Series(3, dirty=True)}

    def build(key: str) -> dict[str, int]:
        return {"points": series[key].points}

    store._db.execute("PRAGMA query_only = ON")  # a real SQLITE_READONLY
    with pytest.raises(StoreWriteError):
        docs.flush(10 * NS, build, changed_keys(series))
    store._db.execute("PRAGMA query_only = OFF")
    assert docs.dirty == {"a", "c"} and not any(s.dirty for s in series.values())
    series["b"].dirty = True
    assert docs.flush(20 * NS, build, changed_keys(series)) == 0  # not due: b not taken
    assert series["b"].dirty and docs.dirty == {"a", "c"}
    assert docs.flush(70 * NS, build, changed_keys(series)) == 3
    assert store.load_state("demo/a", "c") == {"points": 3} and not docs.dirty


def test_a_document_that_does_not_fit_is_dropped_counted_and_logged_once(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    store.save_state("demo/a", "tally/x", {"hits": "many"}, 1)
    store.save_state("demo/a", "tally/y", [1, 2], 1)
    docs = keyed(store)
    with caplog.at_level(logging.WARNING, logger="otel_perf.component.state"):
        assert docs.load("x") is None and docs.load("y") is None and docs.load("z") is None
    assert docs.discarded == 2
    (warning,) = caplog.records
    said = warning.getMessage()
    assert "demo/a: saved state 'tally/x' unreadable" in said and "state_discarded" in said
    assert "does not match Tally: $.hits: expected int" in said
