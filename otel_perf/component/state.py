"""A component's state document in the store: typed, versioned, throttled, dirty-tracked.

Every stateful processor had the same chore written out: a ``dirty`` flag set on
intake, a ``saved_ns`` that throttles ``flush`` to one write per save interval, a
save on shutdown when anything changed, and a dict shape checked by hand on load.
:class:`PersistedState` owns it; the component says what its document is (a dataclass
or a pydantic model, serialised by :mod:`otel_perf.codec`) and when it changed.

With a ``version``, the document is written as ``{"version": N, "state": ...}``; one of
an older version goes through the component's ``migrations`` (version 0 is a document
written before versions: the bare state), and one of a newer version, or one that does
not fit the type, is discarded: the component starts empty, the load logs one warning
naming the path that did not fit, and ``discarded`` counts it.

:class:`PersistedStates` is the same for many documents of one kind, one per key (a
series, an objective, a baseline), under one throttle: only the changed keys are
written, and a discard is logged once per component, however many documents it drops.
"""

from __future__ import annotations

import logging
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Generic, Protocol, TypeVar

from otel_perf.codec import StateError, decode, encode
from otel_perf.store import Store

M = TypeVar("M")
NS = 1_000_000_000
log = logging.getLogger("otel_perf.component.state")
Migration = Callable[[Any], Any]


class Document(Generic[M]):
    """How one kind of document is written and read: its type, version and migrations."""

    def __init__(
        self,
        model: type[M],
        version: int | None = None,
        migrations: Mapping[int, Migration] | None = None,
    ) -> None:
        self.model = model
        self.version = version
        self.migrations = dict(migrations or {})

    def read(self, raw: Any) -> M:
        """``raw`` (as the store holds it) as the document, migrated to the current version.

        Raises:
            StateError: on another version with no migration, or a document that does not fit.
        """
        body = raw if self.version is None else self._migrated(raw)
        return decode(self.model, body)

    def write(self, value: M) -> Any:
        """``value`` as the store holds it (with its version, when it has one)."""
        body = encode(self.model, value)
        return body if self.version is None else {"version": self.version, "state": body}

    def load(self, store: Store, component_id: str, name: str) -> tuple[M | None, int]:
        """The saved document (None when there is none) and 1 when one was discarded."""
        raw = store.load_state(component_id, name)
        if raw is None:
            return None, 0
        try:
            return self.read(raw), 0
        except StateError as exc:
            _warn(component_id, name, self, exc)
            return None, 1

    def _migrated(self, raw: Any) -> Any:
        assert self.version is not None
        versioned = isinstance(raw, dict) and raw.keys() == {"version", "state"}
        found, body = (raw["version"], raw["state"]) if versioned else (0, raw)
        if not isinstance(found, int) or isinstance(found, bool) or found > self.version:
            raise StateError("$.version", f"{found!r} is not a version this build reads")
        for step in range(found, self.version):
            if step not in self.migrations:
                raise StateError("$.version", f"no migration from version {step}")
            body = self.migrations[step](body)
        return body


def unchanged(body: Any) -> Any:
    """Migration 0 of a component whose version 1 is the bare state it wrote before versions:
    ``migrations={0: unchanged}``."""
    return body


class Throttle:
    """At most one write per ``interval_s`` of event time (the first is always due)."""

    def __init__(self, interval_s: float) -> None:
        self.interval_ns = int(interval_s * NS)
        self.saved_ns = 0

    def due(self, now_ns: int) -> bool:
        return not self.saved_ns or now_ns - self.saved_ns >= self.interval_ns


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
        model: the document's type (a dataclass or a pydantic model), checked on load, or
            a :class:`Document` (its type, version and migrations, as one value).
        interval_s: the least time between two throttled writes (event time).
        version: the document's version, written beside it; None writes the bare state.
        migrations: for each older version ``v``, the step from its state to ``v + 1``'s.
    """

    def __init__(
        self,
        store: Store,
        component_id: str,
        name: str,
        model: type[M] | Document[M],
        interval_s: float,
        *,
        version: int | None = None,
        migrations: Mapping[int, Migration] | None = None,
    ) -> None:
        self.store = store
        self.component_id = component_id
        self.name = name
        kind = model if isinstance(model, Document) else Document(model, version, migrations)
        self.kind: Document[M] = kind
        self.throttle = Throttle(interval_s)
        self.dirty = False
        self.discarded = 0  # saved documents that could not be read (counted once each)

    @property
    def model(self) -> type[M]:
        return self.kind.model

    def load(self) -> M | None:
        """The saved document; None when there is none or it cannot be read (discarded)."""
        value, discarded = self.kind.load(self.store, self.component_id, self.name)
        self.discarded += discarded
        return value

    def mark_dirty(self) -> None:
        """Something in the document changed since the last write."""
        self.dirty = True

    def flush(self, now_ns: int, build: Callable[[], M]) -> bool:
        """Write ``build()`` if ``interval_s`` has passed since the last write; True if written."""
        return self.throttle.due(now_ns) and self.save(now_ns, build)

    def save(self, now_ns: int, build: Callable[[], M]) -> bool:
        """Write ``build()`` now when anything changed; True if written."""
        self.throttle.saved_ns = now_ns
        if not self.dirty:
            return False
        self.store.save_state(self.component_id, self.name, self.kind.write(build()), now_ns)
        self.dirty = False
        return True

    def close(self, now_ns: int, build: Callable[[], M]) -> None:
        """At shutdown: write what is unsaved, whatever the interval."""
        if self.dirty:
            self.save(max(self.throttle.saved_ns, now_ns), build)


class PersistedStates(Generic[M]):
    """Documents ``<prefix><key>`` of one component, one per key, under one throttle.

    A component that keeps a document per series, objective or baseline (thousands of
    them) writes only those that changed: ``mark_dirty(key)`` on a change (or pass the
    changed keys to ``flush`` as ``changed``, consumed only when a write is due);
    ``flush(now_ns, build)`` writes ``build(key)`` for each dirty key once ``interval_s``
    has passed since the last write (``build`` returning None writes nothing for that
    key); ``save`` writes them now. A failed write (the store raises ``StoreWriteError``)
    leaves the keys not yet written dirty, so the next flush tries again. A saved
    document that cannot be read is dropped (that key starts empty), counted in
    :attr:`discarded` and logged once per helper, however many there are.

    Args:
        store: the shared store.
        component_id: the component's id (the documents' owner).
        kind: the documents' type, version and migrations (the type a dataclass, a
            pydantic model or a list or dict of them).
        interval_s: the least time between two throttled writes (event time).
        prefix: put before each key to name its document.
    """

    def __init__(
        self,
        store: Store,
        component_id: str,
        kind: Document[M],
        interval_s: float,
        *,
        prefix: str = "",
    ) -> None:
        self.store = store
        self.component_id = component_id
        self.kind = kind
        self.prefix = prefix
        self.throttle = Throttle(interval_s)
        self.dirty: set[str] = set()
        self.discarded = 0  # saved documents that could not be read, dropped on load

    def load(self, key: str) -> M | None:
        """The saved document of ``key``; None when there is none or it cannot be read."""
        raw = self.store.load_state(self.component_id, self.prefix + key)
        if raw is None:
            return None
        try:
            return self.kind.read(raw)
        except (ValueError, TypeError) as exc:  # StateError is a ValueError
            self.discard(key, f"does not match {_type_name(self.kind.model)}: {exc}")
            return None

    def discard(self, key: str, problem: object) -> None:
        """Count a saved document of ``key`` that could not be used (the first is logged)."""
        self.discarded += 1
        if self.discarded == 1:
            log.warning(
                "%s: saved state %r unreadable, starting it afresh (and any other such "
                "document, counted in state_discarded): %s",
                self.component_id,
                self.prefix + key,
                problem,
            )

    def mark_dirty(self, key: str) -> None:
        """The document of ``key`` changed since its last write."""
        self.dirty.add(key)

    def due(self, now_ns: int) -> bool:
        """Whether ``interval_s`` has passed since the last write (or none happened yet)."""
        return self.throttle.due(now_ns)

    def flush(
        self, now_ns: int, build: Callable[[str], M | None], changed: Iterable[str] = ()
    ) -> int:
        """Write the changed documents if ``interval_s`` has passed; how many were written."""
        if not self.due(now_ns):
            return 0
        self.dirty.update(changed)
        return self.save(now_ns, build)

    def save(self, now_ns: int, build: Callable[[str], M | None]) -> int:
        """Write every changed document now; how many were written."""
        self.throttle.saved_ns = now_ns
        written = 0
        for key in sorted(self.dirty):
            document = build(key)
            if document is not None:
                body = self.kind.write(document)
                self.store.save_state(self.component_id, self.prefix + key, body, now_ns)
                written += 1
            self.dirty.discard(key)
        return written


class Flagged(Protocol):
    """Something that says whether it changed since it was last written."""

    dirty: bool


def changed_keys(held: Mapping[str, Flagged]) -> Iterator[str]:
    """The keys of ``held`` whose value is ``dirty``, each marked clean as it is yielded:
    ``PersistedStates.flush(now_ns, build, changed_keys(series))``."""
    for key, value in held.items():
        if value.dirty:
            value.dirty = False
            yield key


def _warn(component_id: str, name: str, kind: Document[Any], problem: object) -> None:
    log.warning(
        "%s: saved state %r unreadable, does not match %s, starting afresh: %s",
        component_id,
        name,
        _type_name(kind.model),
        problem,
    )


def _type_name(tp: Any) -> str:
    """``dict[str, Resource]`` for a generic alias, the class name otherwise."""
    args = typing.get_args(tp)
    name = getattr(typing.get_origin(tp) or tp, "__name__", repr(tp))
    return f"{name}[{', '.join(map(_type_name, args))}]" if args else str(name)
