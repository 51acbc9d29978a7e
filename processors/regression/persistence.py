"""The regression processor's holdings in the store: what changed, at most once per
``save_interval`` of event time, in the documents ``saved.py`` declares.

Baselines and runs are one document per name (only the changed ones are written); the
index names them; the version tracker, its usage and the recent comparisons are one
document. A document that does not fit is dropped on start — that part starts empty —
counted in :attr:`RegressionState.discarded` (the snapshot's ``state_discarded``) and
logged once.
"""

from __future__ import annotations

from typing import Any

from otel_perf.component.state import Document, PersistedState, PersistedStates
from otel_perf.processors.regression.baselines import Baseline
from otel_perf.processors.regression.holdings import Holdings
from otel_perf.processors.regression.saved import (
    BASELINE_PREFIX,
    INDEX,
    RUNS_PREFIX,
    VERSIONS,
    RunRecords,
    SavedBaseline,
    SavedIndex,
    SavedVersions,
)
from otel_perf.store import Store

VERSIONS_DIRTY = "versions"  # in Holdings.dirty beside baseline names


class RegressionState:
    """The store side of one regression processor's :class:`holdings.Holdings`."""

    def __init__(self, store: Store, component_id: str, interval_s: float) -> None:
        self.index = PersistedState(store, component_id, INDEX, SavedIndex, interval_s)
        self.versions = PersistedState(store, component_id, VERSIONS, SavedVersions, interval_s)
        self.baselines = PersistedStates(
            store, component_id, Document(SavedBaseline), interval_s, prefix=BASELINE_PREFIX
        )
        self.runs = PersistedStates(
            store, component_id, Document(RunRecords), interval_s, prefix=RUNS_PREFIX
        )
        self.store, self.component_id = store, component_id

    @property
    def discarded(self) -> int:
        """Saved documents dropped on start because they did not fit."""
        return self.baselines.discarded + self.runs.discarded

    def restore(self, held: Holdings) -> None:
        """Load what was saved into ``held`` (empty)."""
        index = self._load(self.index.name, SavedIndex) or SavedIndex()
        for name in index.baselines:
            saved = self.baselines.load(name)
            if saved is not None:
                try:
                    held.baselines[name] = Baseline.from_saved(saved)
                except (KeyError, TypeError, ValueError) as exc:
                    self.baselines.discard(name, exc)
        for name in index.runs:
            held.runs.restore(name, self.runs.load(name) or [])
        versions = self._load(self.versions.name, SavedVersions)
        if versions is not None:
            held.versions.resume(versions.tracker)
            held.version_usage.resume(versions.usage)
            held.comparisons.extend(versions.comparisons)

    def _load(self, name: str, model: type[SavedIndex] | type[SavedVersions]) -> Any:
        raw = self.store.load_state(self.component_id, name)
        if raw is None:
            return None
        try:
            return model.model_validate(raw)
        except ValueError as exc:  # pydantic's ValidationError too
            self.baselines.discard(name, exc)
            return None

    def flush(self, now_ns: int, held: Holdings) -> None:
        """Write what changed, at most once per interval."""
        if self.baselines.due(now_ns):
            self.save(now_ns, held)

    def save(self, now_ns: int, held: Holdings) -> None:
        """Write what changed now."""
        for name in held.dirty:
            if name == VERSIONS_DIRTY:
                self.versions.mark_dirty()
            else:
                self.baselines.mark_dirty(name)
        for name in held.runs.dirty:
            self.runs.mark_dirty(name)
        if held.dirty - {VERSIONS_DIRTY} or held.runs.dirty:
            self.index.mark_dirty()
        held.dirty.clear()
        held.runs.dirty.clear()
        self.baselines.save(now_ns, lambda name: _baseline(held, name))
        self.runs.save(now_ns, lambda name: held.runs.of(name) or None)
        self.versions.save(now_ns, lambda: _versions(held))
        self.index.save(now_ns, lambda: _index(held))


def _baseline(held: Holdings, name: str) -> SavedBaseline | None:
    baseline = held.baselines.get(name)
    return None if baseline is None else baseline.saved()


def _versions(held: Holdings) -> SavedVersions:
    return SavedVersions(
        tracker=held.versions.saved(),
        usage=held.version_usage.saved(),
        comparisons=list(held.comparisons),
    )


def _index(held: Holdings) -> SavedIndex:
    return SavedIndex(baselines=sorted(held.baselines), runs=sorted(held.runs.by_name))
