"""From a span to its series key, with bounded cardinality (the hot path of span metrics)."""

from __future__ import annotations

from collections.abc import Mapping

from otel_perf.model import AttrValue, SpanRecord
from otel_perf.semconv import ALIASES, attribute, http_status, is_error
from otel_perf.series import OVERFLOW_ATTRIBUTE, SeriesKey

OVERFLOW = "otel.metric.overflow"
_OVERFLOW_DIMS = ((OVERFLOW_ATTRIBUTE, "true"),)
__all__ = ["ALIASES", "OVERFLOW", "Keyer", "attribute", "http_status", "is_error"]


class Keyer:
    """Maps spans to SeriesKeys; past the limits, to overflow series (counted).

    Args:
        dimensions: attribute names added to the key.
        max_series_per_service: distinct keys per service before overflow.
        max_services: distinct services before they share an overflow service.
    """

    def __init__(
        self,
        dimensions: list[str],
        max_series_per_service: int,
        max_services: int,
        resource_dimensions: list[str] | None = None,
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
        self._keys: dict[tuple[object, ...], SeriesKey] = {}
        self._per_service: dict[str, int] = {}
        # one overflow key per tracked service (and the shared one): bounded by max_services
        self._overflow: dict[str, SeriesKey] = {}
        self.overflowed_spans = 0

    def key(self, span: SpanRecord) -> SeriesKey:
        attrs = span.attributes
        service = span.resource.service_name
        # attribute(attrs, d) for every dimension, with the fallbacks looked at only when needed
        values = tuple(map(attrs.get, self.dimensions))
        for i, _ in self._fallbacks:
            if values[i] is None:
                values = self._fall_back(attrs, values)
                break
        raw = (service, span.name, span.kind) + values
        if self.resource_dimensions:
            resource = span.resource.attributes
            raw += tuple(resource.get(d) for d in self.resource_dimensions)
        found = self._keys.get(raw)
        if found is not None:
            return found
        return self._new_key(raw, service, span)

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

    def _new_key(self, raw: tuple[object, ...], service: str, span: SpanRecord) -> SeriesKey:
        count = self._per_service.get(service)
        if count is None and len(self._per_service) >= self.max_services:
            self.overflowed_spans += 1
            return self._overflow_key(OVERFLOW)
        if count is not None and count >= self.max_series:
            self.overflowed_spans += 1
            return self._overflow_key(service)
        dims = tuple(
            (name, str(value))
            for name, value in zip(self._names, raw[3:], strict=True)
            if value is not None
        )
        key = SeriesKey(service, span.name, int(span.kind), dims)
        self._keys[raw] = key
        self._per_service[service] = (count or 0) + 1
        return key

    def _overflow_key(self, service: str) -> SeriesKey:
        key = self._overflow.get(service)
        if key is None:
            key = self._overflow[service] = SeriesKey(service, OVERFLOW, 0, _OVERFLOW_DIMS)
        return key

    @property
    def series(self) -> int:
        return len(self._keys)
