"""A component's state document in the store: typed, throttled, dirty-tracked.

Every stateful processor had the same chore written out: a ``dirty`` flag set on
intake, a ``saved_ns`` that throttles ``flush`` to one write per save interval, a
save on shutdown when anything changed, and a dict shape checked by hand on load.
:class:`PersistedState` owns it; the component says what its document is (a
pydantic model) and when it changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from otel_perf.store import Store

M = TypeVar("M", bound=BaseModel)
NS = 1_000_000_000
log = logging.getLogger("otel_perf.component.state")


class PersistedState(Generic[M]):
    """One named state document of one component, saved at most once per ``interval_s``.

    ``mark_dirty()`` on every change; ``flush(now_ns, build)`` from the component's own
    ``flush`` writes ``build()`` when the interval has passed and something changed;
    ``save`` writes now; ``close`` writes what is still unsaved. A failed write (the
    store raises ``StoreWriteError``) leaves the document dirty, so the next flush tries
    again.

    Args:
        store: the shared store.
        component_id: the component's id (the document's owner).
        name: the document's name within the component.
        model: the pydantic model of the document, validated on load.
        interval_s: the least time between two throttled writes (event time).
    """

    def __init__(
        self, store: Store, component_id: str, name: str, model: type[M], interval_s: float
    ) -> None:
        self.store = store
        self.component_id = component_id
        self.name = name
        self.model = model
        self.interval_ns = int(interval_s * NS)
        self.saved_ns = 0
        self.dirty = False

    def load(self) -> M | None:
        """The saved document, or None when there is none or it no longer validates."""
        raw = self.store.load_state(self.component_id, self.name)
        if raw is None:
            return None
        try:
            return self.model.model_validate(raw)
        except ValidationError as exc:
            log.warning(
                "%s: saved state %r does not match %s, starting afresh: %s",
                self.component_id,
                self.name,
                self.model.__name__,
                exc,
            )
            return None

    def mark_dirty(self) -> None:
        """Something in the document changed since the last write."""
        self.dirty = True

    def flush(self, now_ns: int, build: Callable[[], M]) -> bool:
        """Write ``build()`` if ``interval_s`` has passed since the last write; True if written."""
        if self.saved_ns and now_ns - self.saved_ns < self.interval_ns:
            return False
        return self.save(now_ns, build)

    def save(self, now_ns: int, build: Callable[[], M]) -> bool:
        """Write ``build()`` now when anything changed; True if written."""
        self.saved_ns = now_ns
        if not self.dirty:
            return False
        body = build().model_dump(mode="json")
        self.store.save_state(self.component_id, self.name, body, now_ns)
        self.dirty = False
        return True

    def close(self, now_ns: int, build: Callable[[], M]) -> None:
        """At shutdown: write what is unsaved, whatever the interval."""
        if self.dirty:
            self.save(max(self.saved_ns, now_ns), build)
