"""From a span to its series key, with bounded cardinality (the hot path of span metrics)."""

from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Mapping

from otel_perf.model import AttrValue, SpanRecord
from otel_perf.semconv import ALIASES, attribute, http_status, is_entry, is_error, operation
from otel_perf.series import OVERFLOW_ATTRIBUTE, SeriesKey

OVERFLOW = "otel.metric.overflow"
RANK_SHIFT = 62  # a series' priority sits above its uses, which stay below 2 ** 62
USES = (1 << RANK_SHIFT) - 1
_OVERFLOW_DIMS = ((OVERFLOW_ATTRIBUTE, "true"),)
__all__ = ["ALIASES", "OVERFLOW", "Keyer", "attribute", "http_status", "is_error"]


class Keyer:
    """Maps spans to SeriesKeys; past the limits, to overflow series (counted).

    A series is keyed by the span's operation (:func:`otel_perf.semconv.operation`: entry
    spans by route, calls by their target, ids templated), so raw paths and ids never
    mint series; framework-internal spans (ASGI ``http send``/``http receive``) have no
    key at all. When a service has ``max_series_per_service`` series, a new key goes to
    overflow, but is counted: once it has been seen more often than the service's least
    used series (uses halve at every ``decay()``), or it is a routed entry and the least
    used series is not, the two swap. Overflow goes by rarity, not by arrival order, so
    noise that arrived first cannot push a real route into ``otel.metric.overflow``.

    Args:
        dimensions: attribute names added to the key.
        max_series_per_service: distinct keys per service before overflow.
        max_services: distinct services before they share an overflow service.
        max_series: distinct keys in all before new ones go to their service's overflow
            series (without it the bound is ``max_series_per_service × max_services``).
    """

    def __init__(
        self,
        dimensions: list[str],
        max_series_per_service: int,
        max_services: int,
        resource_dimensions: list[str] | None = None,
        max_series: int | None = None,
    ):
        self.dimensions = tuple(dimensions)
        self.resource_dimensions = tuple(resource_dimensions or ())
        self._names = self.dimensions + self.resource_dimensions
        # (position, older names) of the dimensions that have fallbacks
        self._fallbacks = tuple(
            (i, ALIASES[d]) for i, d in enumerate(self.dimensions) if d in ALIASES
        )
        self.max_series = max_series_per_service
        self.max_services = max_services
        self.max_total = max_series if max_series is not None else math.inf
        self._keys: dict[tuple[object, ...], SeriesKey] = {}
        # series -> priority << RANK_SHIFT | uses: one int a series (ordered as (priority,
        # uses)); keyed by the SeriesKey, whose hash is kept, not the raw tuple
        self._uses: dict[SeriesKey, int] = {}
        # a list, not a set: a set of 20 keys costs ~2 KB, the list ~250 B (removal is
        # rare: an eviction)
        self._per_service: dict[str, list[tuple[object, ...]]] = {}
        # the dimensions of admitted keys, each made once: most series share theirs with
        # others (the same route on every service); bounded like the series
        self._dims: dict[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] = {}
        # keys turned away per service, with how often (bounded like the series)
        self._pending: dict[str, dict[tuple[object, ...], int]] = {}
        # one overflow key per tracked service (and the shared one): bounded by max_services
        self._overflow: dict[str, SeriesKey] = {}
        self.overflowed_spans = 0
        self.evicted_series = 0

    def key(self, span: SpanRecord) -> SeriesKey | None:
        """The span's series, None for a framework-internal span (no operation)."""
        name = operation(span)
        if name is None:
            return None
        raw = self.raw(span, name)
        return self.take(raw, span.resource.service_name, span.kind, priority(span), 1)[0][0]

    def raw(self, span: SpanRecord, name: str) -> tuple[object, ...]:
        """What tells ``span``'s series apart: service, operation ``name``, kind, dimensions."""
        attrs = span.attributes
        # attribute(attrs, d) for every dimension, with the fallbacks looked at only when needed
        values = tuple(map(attrs.get, self.dimensions))
        for i, _ in self._fallbacks:
            if values[i] is None:
                values = self._fall_back(attrs, values)
                break
        raw = (span.resource.service_name, name, span.kind) + values
        if self.resource_dimensions:
            resource = span.resource.attributes
            raw += tuple(resource.get(d) for d in self.resource_dimensions)
        try:
            hash(raw)
        except TypeError:  # a list or map value: keyed by its text, as its dimension shows it
            raw = tuple(str(v) if isinstance(v, list | dict) else v for v in raw)
        return raw

    def admits(
        self,
        raws: list[tuple[object, ...]],
        services: list[str],
        found: list[SeriesKey | None],
    ) -> bool:
        """Whether every raw not yet a series (``found``: :meth:`found` of ``raws``) would
        become one, whatever the order.

        Then counting them group by group gives what counting span by span gives; past
        a limit, who is admitted or evicted depends on the order of the spans.
        """
        if None not in found:
            return True
        new = {
            raw: service
            for raw, service, key in zip(raws, services, found, strict=True)
            if key is None
        }
        if len(self._keys) + len(new) > self.max_total:
            return False
        per_service = Counter(new.values())
        tracked = len(self._per_service) + sum(s not in self._per_service for s in per_service)
        return tracked <= self.max_services and all(
            len(self._per_service.get(s, ())) + n <= self.max_series for s, n in per_service.items()
        )

    def take(
        self, raw: tuple[object, ...], service: str, kind: int, priority: int, count: int
    ) -> list[tuple[SeriesKey, int]]:
        """The series of ``count`` spans alike (``raw``), as runs of (series, spans) in order.

        Exactly as ``count`` calls of :meth:`key` in a row: a series already admitted
        takes them all at once; otherwise each sighting is judged in turn (the first ones
        may go to overflow until the key earns its place).
        """
        found = self._keys.get(raw)
        if found is not None:
            self._uses[found] += count
            return [(found, count)]
        runs: list[tuple[SeriesKey, int]] = []
        for seen in range(count):
            found = self._keys.get(raw)
            if found is not None:  # admitted at an earlier sighting of these
                self._uses[found] += count - seen
                return _extend(runs, found, count - seen)
            runs = _extend(runs, self._new_key(raw, service, kind, priority), 1)
        return runs

    def found(self, raws: list[tuple[object, ...]]) -> list[SeriesKey | None]:
        """The series of each raw already admitted, None for the others (uses unchanged)."""
        return list(map(self._keys.get, raws))

    def take_groups(
        self,
        raws: list[tuple[object, ...]],
        found: list[SeriesKey | None],
        services: list[str],
        kinds: list[int],
        priorities: list[int],
        counts: list[int],
    ) -> list[SeriesKey]:
        """The series of each group of spans alike, when :meth:`admits` said every new
        one becomes a series: :meth:`take` per group (``found``: :meth:`found` of
        ``raws``), the known ones without a call."""
        uses = self._uses
        out = []
        for g, key in enumerate(found):
            if key is None:
                ((key, _),) = self.take(raws[g], services[g], kinds[g], priorities[g], counts[g])
            else:
                uses[key] += counts[g]
            out.append(key)
        return out

    def decay(self) -> None:
        """Halve every use count, so rarity is judged on recent traffic."""
        uses = self._uses
        for key, packed in uses.items():  # values replaced, no key added: iteration holds
            uses[key] = (packed & ~USES) | ((packed & USES) >> 1)
        for pending in self._pending.values():
            for raw in [r for r, n in pending.items() if n < 2]:
                del pending[raw]
            for raw in pending:
                pending[raw] //= 2

    def _fall_back(
        self, attrs: Mapping[str, AttrValue], values: tuple[AttrValue, ...]
    ) -> tuple[AttrValue, ...]:
        filled = list(values)
        for i, aliases in self._fallbacks:
            if filled[i] is None:
                for alias in aliases:
                    value = attrs.get(alias)
                    if value is not None:
                        filled[i] = value
                        break
        return tuple(filled)

    def _new_key(
        self, raw: tuple[object, ...], service: str, kind: int, priority: int
    ) -> SeriesKey:
        admitted = self._per_service.get(service)
        if admitted is None:
            if len(self._per_service) >= self.max_services:
                self.overflowed_spans += 1
                return self._overflow_key(OVERFLOW)
            admitted = self._per_service[service] = []
        if len(admitted) >= self.max_series:
            if not self._make_room(raw, service, priority):  # a swap: the total stays
                self.overflowed_spans += 1
                return self._overflow_key(service)
        elif len(self._keys) >= self.max_total:
            self.overflowed_spans += 1
            return self._overflow_key(service)
        uses = 1 + self._pending.get(service, {}).pop(raw, 0)
        raw = _interned(raw)  # held as long as the series: its strings shared with others
        key = SeriesKey(sys.intern(service), str(raw[1]), int(kind), self._shared_dims(raw))
        self._keys[raw] = key
        self._uses[key] = priority << RANK_SHIFT | uses
        admitted.append(raw)
        return key

    def _shared_dims(self, raw: tuple[object, ...]) -> tuple[tuple[str, str], ...]:
        dims = tuple(
            (name, sys.intern(str(value)))
            for name, value in zip(self._names, raw[3:], strict=True)
            if value is not None
        )
        found = self._dims.get(dims)
        if found is None:
            if len(self._dims) > len(self._keys):
                self._dims.clear()  # keys evicted since left theirs here: start again
            found = self._dims[dims] = dims
        return found

    def _make_room(self, raw: tuple[object, ...], service: str, priority: int) -> bool:
        """Count a turned-away key; evict the least used series when it has become rarer."""
        pending = self._pending.setdefault(service, {})
        if raw not in pending and len(pending) >= self.max_series:
            return False
        seen = pending[raw] = pending.get(raw, 0) + 1
        if not priority and seen & (seen - 1):
            return False  # look for a victim at 1, 2, 4, 8, ... sightings: O(log n) scans
        admitted = self._per_service[service]
        keys, packed_uses = self._keys, self._uses
        victim = min(admitted, key=lambda held: packed_uses[keys[held]])  # (priority, uses)
        packed = packed_uses[keys[victim]]
        uses, rank = packed & USES, packed >> RANK_SHIFT
        if (rank, uses) >= (priority, seen):
            return False
        admitted.remove(victim)
        del packed_uses[keys[victim]], keys[victim]
        self.evicted_series += 1
        return True

    def _overflow_key(self, service: str) -> SeriesKey:
        key = self._overflow.get(service)
        if key is None:
            key = self._overflow[service] = SeriesKey(service, OVERFLOW, 0, _OVERFLOW_DIMS)
        return key

    @property
    def series(self) -> int:
        return len(self._keys)


def _interned(raw: tuple[object, ...]) -> tuple[object, ...]:
    """``raw`` with every string in it interned: the same operation, route or method on
    a thousand services is one string, not one per series (an interned string is freed
    once no one holds it)."""
    return tuple(sys.intern(v) if type(v) is str else v for v in raw)


def _extend(
    runs: list[tuple[SeriesKey, int]], key: SeriesKey, count: int
) -> list[tuple[SeriesKey, int]]:
    if runs and runs[-1][0] is key:
        runs[-1] = (key, runs[-1][1] + count)
    else:
        runs.append((key, count))
    return runs


def priority(span: SpanRecord) -> int:
    """1 for an entry span with a declared route (what a person asked to see), else 0."""
    if not is_entry(span.kind):
        return 0
    attrs = span.attributes
    return int(bool(attrs.get("http.route") or attrs.get("rpc.method")))
