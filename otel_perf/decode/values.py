"""OTLP attribute values (AnyValue, KeyValue) to Python values."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from otel_perf.decode.limits import Limits
from otel_perf.model import AttrValue


def any_value(value: AnyValue, limits: Limits | None = None) -> AttrValue:
    """Convert an OTLP AnyValue to a Python value."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v, limits) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value, limits) for kv in value.kvlist_value.values}
    result: AttrValue = getattr(value, kind)
    return result


def attributes(kvs: Iterable[KeyValue]) -> dict[str, AttrValue]:
    return {kv.key: any_value(kv.value) for kv in kvs}


def _clip(value: AttrValue, limit: int) -> tuple[AttrValue, bool]:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit], True
    if isinstance(value, bytes) and len(value) > limit:
        return value[:limit], True
    return value, False


_SCALARS = frozenset({"int_value", "bool_value", "double_value"})


def _wanted(
    kvs: Iterable[KeyValue], keys: frozenset[str], limit: int
) -> tuple[dict[str, AttrValue], list[str]]:
    """The attributes named in ``keys``, and which of them were clipped to ``limit``.

    This is the hottest loop of ingest: scalar values are read inline rather than
    through :func:`any_value`, and other keys are skipped without touching values.
    """
    attrs: dict[str, AttrValue] = {}
    clipped: list[str] = []
    for kv in kvs:
        key = kv.key
        if key not in keys:
            continue
        value = kv.value
        kind = value.WhichOneof("value")
        if kind == "string_value":
            text = value.string_value
            if len(text) > limit:
                text = text[:limit]
                clipped.append(key)
            attrs[key] = text
        elif kind in _SCALARS:
            attrs[key] = getattr(value, kind)
        else:
            attrs[key], was_clipped = _clip(any_value(value), limit)
            if was_clipped:
                clipped.append(key)
    return attrs, clipped


def _event_name_attribute(kvs: Iterable[KeyValue]) -> str:
    # Older SDKs put the event name in an attribute instead of the field.
    for kv in kvs:
        if kv.key == "event.name":
            return kv.value.string_value
    return ""


def _events(events: Iterable[Any]) -> tuple[tuple[int, str, dict[str, AttrValue]], ...]:
    return tuple((e.time_unix_nano, e.name, attributes(e.attributes)) for e in events)
