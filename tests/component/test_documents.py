"""Keyed state documents over a real store: typed (a dataclass here), throttled, only the
changed ones written, what does not fit dropped and counted."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from otel_perf.component.documents import PersistedDocuments
from otel_perf.store import Store

NS = 1_000_000_000


@dataclass
class Tally:
    hits: int
    names: list[str]


@pytest.fixture(name="store")
def memory_store(tmp_path: Path) -> Iterator[Store]:
    """A store on disk, as the sidecar keeps one."""
    with closing(Store(tmp_path / "state.db", 1000)) as opened:
        yield opened


def documents(store: Store) -> PersistedDocuments[Tally]:
    return PersistedDocuments(store, "demo/a", "tally/", Tally, 60.0)


def test_only_changed_documents_are_written_at_most_once_per_interval(store: Store) -> None:
    docs = documents(store)
    tallies = {"x": Tally(1, ["a"]), "y": Tally(2, [])}
    docs.mark_dirty("x")
    assert docs.flush(10 * NS, tallies.get) == 1
    assert store.load_state("demo/a", "tally/x") == {"hits": 1, "names": ["a"]}
    assert store.load_state("demo/a", "tally/y") is None
    docs.mark_dirty("y")
    assert docs.flush(30 * NS, tallies.get) == 0  # within the interval: still dirty
    assert docs.flush(70 * NS, tallies.get) == 1
    assert docs.load("y") == Tally(2, [])
    docs.mark_dirty("gone")  # build answers None: nothing written, no longer dirty
    assert docs.save(80 * NS, tallies.get) == 0 and not docs.dirty


def test_a_document_that_does_not_fit_is_dropped_counted_and_logged_once(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    store.save_state("demo/a", "tally/x", {"hits": "many"}, 1)
    store.save_state("demo/a", "tally/y", [1, 2], 1)
    docs = documents(store)
    with caplog.at_level(logging.WARNING):
        assert docs.load("x") is None and docs.load("y") is None and docs.load("z") is None
    assert docs.discarded == 2
    assert len([r for r in caplog.records if "tally/x" in r.getMessage()]) == 1
    assert not [r for r in caplog.records if "tally/y" in r.getMessage()]
