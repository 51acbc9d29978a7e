"""Many state documents of one kind, one per key: typed, throttled, dirty-tracked.

:class:`otel_perf.component.state.PersistedState` owns one document. A component that
keeps a document per objective or per baseline (thousands of them) writes only those
that changed: :class:`PersistedDocuments` tracks which keys changed and writes them
together, at most once per save interval. A document is read and written through a
pydantic ``TypeAdapter`` of its type (a pydantic model or a dataclass), so its shape is
declared once; a saved document that no longer fits is dropped on load (the component
starts that one empty), counted in :attr:`PersistedDocuments.discarded`, and logged
once per component and kind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from pydantic import TypeAdapter, ValidationError

from otel_perf.store import Store

T = TypeVar("T")
NS = 1_000_000_000
log = logging.getLogger("otel_perf.component.documents")


class PersistedDocuments(Generic[T]):
    """Documents ``<prefix><key>`` of one component, each of type ``kind``.

    ``mark_dirty(key)`` on every change; ``flush(now_ns, build)`` from the component's
    own ``flush`` writes ``build(key)`` for each changed key once ``interval_s`` has
    passed since the last write (``build`` returning None writes nothing for that key);
    ``save`` writes them now. A failed write (the store raises ``StoreWriteError``)
    leaves the keys not yet written dirty, so the next flush tries again.

    Args:
        store: the shared store.
        component_id: the component's id (the documents' owner).
        prefix: put before each key to name its document.
        kind: the document's type (a pydantic model, a dataclass, a list of them...).
        interval_s: the least time between two throttled writes (event time).
    """

    def __init__(
        self, store: Store, component_id: str, prefix: str, kind: type[T], interval_s: float
    ) -> None:
        self.store = store
        self.component_id = component_id
        self.prefix = prefix
        self.adapter: TypeAdapter[T] = TypeAdapter(kind)
        self.interval_ns = int(interval_s * NS)
        self.saved_ns = 0
        self.dirty: set[str] = set()
        self.discarded = 0  # saved documents that did not fit, dropped on load

    def load(self, key: str) -> T | None:
        """The saved document of ``key``; None when there is none or it does not fit."""
        raw = self.store.load_state(self.component_id, self.prefix + key)
        if raw is None:
            return None
        try:
            return self.adapter.validate_python(raw)
        except (ValidationError, ValueError, TypeError) as exc:
            self.discard(key, exc)
            return None

    def discard(self, key: str, reason: Exception) -> None:
        """Count a saved document of ``key`` that could not be used (the first is logged)."""
        self.discarded += 1
        if self.discarded == 1:
            log.warning(
                "%s: saved state %r does not fit, starting it afresh (and any other such "
                "document, counted in state_discarded): %s",
                self.component_id,
                self.prefix + key,
                reason,
            )

    def mark_dirty(self, key: str) -> None:
        """The document of ``key`` changed since its last write."""
        self.dirty.add(key)

    def due(self, now_ns: int) -> bool:
        """Whether ``interval_s`` has passed since the last write (or none happened yet)."""
        return not self.saved_ns or now_ns - self.saved_ns >= self.interval_ns

    def flush(self, now_ns: int, build: Callable[[str], T | None]) -> int:
        """Write the changed documents if ``interval_s`` has passed; how many were written."""
        return self.save(now_ns, build) if self.due(now_ns) else 0

    def save(self, now_ns: int, build: Callable[[str], T | None]) -> int:
        """Write every changed document now; how many were written."""
        self.saved_ns = now_ns
        written = 0
        for key in sorted(self.dirty):
            document = build(key)
            if document is not None:
                body = self.adapter.dump_python(document, mode="json")
                self.store.save_state(self.component_id, self.prefix + key, body, now_ns)
                written += 1
            self.dirty.discard(key)
        return written
