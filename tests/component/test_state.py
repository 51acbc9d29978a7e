"""The state persistence helper over a real store: typed, throttled, dirty-tracked."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from pydantic import BaseModel

from otel_perf.component.state import PersistedState
from otel_perf.store import Store

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
    assert "demo/a: saved state 'counts' does not match Counts" in caplog.text
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
