"""Typed state documents: a dataclass (or pydantic model) ↔ a JSON-able value, by its hints.

One serialisation for every component's saved state, in place of hand-written
``to_dict``/``from_dict`` pairs. :func:`encode` and :func:`decode` are driven by
``dataclasses.fields`` and the type hints, compiled once per type:

* ``int``, ``float``, ``str``, ``bool``, ``None``; enums by value; ``X | None``;
* dataclasses (nested) as objects of their fields — a missing field with a default takes
  it (a document saved before the field existed), an unknown one is refused; a field whose
  metadata holds ``TRANSIENT`` is not saved and restores to its default;
* ``list``, ``tuple[X, ...]``, ``tuple[X, Y]``, ``deque``, ``set``/``frozenset`` as lists;
  ``dict`` (and ``Mapping``, read back as a ``dict``), ``OrderedDict``, ``Counter`` as
  objects when the keys are ``str``, ``int``, or an enum, else (``float`` keys too: exact
  numbers, not text) as ``[key, value]`` pairs;
* numpy arrays (``NDArray[np.float64]``) as nested lists of their dtype;
* a dataclass as ``Annotated[X, ROW]``: the list of its fields' values, in order (compact,
  for records kept by the thousand);
* pydantic models through their own ``model_dump``/``model_validate``;
* a class with a compact encoding of its own (``to_dict()`` and a ``from_dict(data)``
  classmethod, as :class:`otel_perf.histogram.ExponentialHistogram`), through it.

A document that does not fit raises :class:`StateError` naming the path
(``$.caches[0].prefixes['user'].hits``) and what was expected. This module imports nothing
of ``otel_perf``, so the records at the bottom (series, histogram) can use it;
:mod:`otel_perf.component.state` adds versions and the store around it.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel, ValidationError

T = TypeVar("T")
Encoder = Callable[[Any], Any]
Decoder = Callable[[Any], Any]
TRANSIENT = "otel_perf.codec.transient"  # field(metadata={TRANSIENT: True}): not saved
OMIT_EMPTY = "otel_perf.codec.omit_empty"  # field(metadata={OMIT_EMPTY: True})
ROW = "otel_perf.codec.row"  # Annotated[SomeDataclass, ROW]: saved as a list of its fields

_SEQUENCES: dict[Any, Callable[[list[Any]], Any]] = {
    list: list,
    deque: deque,
    set: set,
    frozenset: frozenset,
}
_MAPPINGS: dict[Any, Callable[[list[tuple[Any, Any]]], Any]] = {
    dict: dict,
    Mapping: dict,
    OrderedDict: OrderedDict,
    Counter: lambda pairs: Counter(dict(pairs)),
}


class StateError(ValueError):
    """A saved document that does not fit its type, at ``path``."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem

    def under(self, prefix: str) -> StateError:
        """The same problem, its path inside ``prefix``."""
        return StateError(prefix + self.path, self.problem)


def encode(tp: type[T] | Any, value: T) -> Any:
    """``value`` (of type ``tp``) as JSON-able data."""
    return _plan(typing.cast(Any, tp))[0](value)


@typing.overload
def decode(tp: type[T], data: Any, path: str = "$") -> T: ...


@typing.overload
def decode(tp: Any, data: Any, path: str = "$") -> Any: ...


def decode(tp: Any, data: Any, path: str = "$") -> Any:
    """The ``tp`` that :func:`encode` wrote as ``data``.

    Raises:
        StateError: when ``data`` does not fit ``tp``; names the path and the problem.
    """
    try:
        return _plan(tp)[1](data)
    except StateError as exc:
        raise exc.under(path) from None


@functools.cache
def _plan(tp: Any) -> tuple[Encoder, Decoder]:
    origin, args = typing.get_origin(tp) or tp, typing.get_args(tp)
    if origin is typing.Annotated:
        return _row(args[0]) if ROW in tp.__metadata__ else _plan(args[0])
    if tp is Any:
        return (lambda v: v), (lambda d: d)
    if tp in (int, float, str, bool):
        return (lambda v: v), _scalar(tp)
    if tp is type(None):
        return (lambda v: v), _scalar(type(None))
    if origin in (typing.Union, types.UnionType):
        return _union(args)
    if isinstance(origin, type) and issubclass(origin, enum.Enum):
        return _enum(origin)
    if origin is tuple:
        return _tuple(args)
    if origin in _SEQUENCES:
        return _sequence(_SEQUENCES[origin], args[0] if args else Any)
    if origin in _MAPPINGS:
        key, value = (args + (int,))[:2] if origin is Counter else (args or (Any, Any))
        return _mapping(_MAPPINGS[origin], key, value)
    if origin is np.ndarray:
        return _ndarray(typing.get_args(args[1])[0] if len(args) == 2 else np.float64)
    if dataclasses.is_dataclass(origin):
        return _dataclass(typing.cast(type, origin))
    if isinstance(origin, type) and issubclass(origin, BaseModel):
        return _model(origin)
    if hasattr(origin, "to_dict") and hasattr(origin, "from_dict"):
        return _compact(origin)
    raise TypeError(f"no state encoding for {tp!r}")


def _scalar(tp: type) -> Decoder:
    name = "null" if tp is type(None) else tp.__name__
    accepted: tuple[type, ...] = (int, float) if tp is float else (tp,)

    def decode_scalar(data: Any) -> Any:
        if type(data) is tp:  # the common case, checked first
            return data
        if isinstance(data, accepted) and (tp is bool or not isinstance(data, bool)):
            return float(typing.cast(float, data)) if tp is float else data
        raise StateError("", f"expected {name}, got {_shown(data)}")

    return decode_scalar


def _union(args: tuple[Any, ...]) -> tuple[Encoder, Decoder]:
    if len(args) != 2 or type(None) not in args:
        raise TypeError(f"only X | None unions have a state encoding, not {args!r}")
    (inner,) = [a for a in args if a is not type(None)]
    enc, dec = _plan(inner)
    return (lambda v: None if v is None else enc(v)), (lambda d: None if d is None else dec(d))


def _enum(cls: type[enum.Enum]) -> tuple[Encoder, Decoder]:
    def decode_enum(data: Any) -> Any:
        try:
            return cls(data)
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in cls)
            raise StateError("", f"expected one of {allowed}, got {_shown(data)}") from None

    return (lambda v: v.value), decode_enum


def _tuple(
    args: tuple[Any, ...], build: Callable[[list[Any]], Any] = tuple
) -> tuple[Encoder, Decoder]:
    if len(args) == 2 and args[1] is Ellipsis:
        enc, dec = _sequence(list, args[0])
        return enc, lambda d: tuple(dec(d))
    plans = [_plan(a) for a in args]

    decoders = [dec for _, dec in plans]

    def decode_tuple(data: Any) -> Any:
        if not isinstance(data, list) or len(data) != len(plans):
            raise StateError("", f"expected a list of {len(plans)}, got {_shown(data)}")
        try:
            return build([dec(item) for dec, item in zip(decoders, data, strict=True)])
        except StateError as exc:
            pairs = enumerate(zip(decoders, data, strict=True))
            places = [(f"[{i}]", dec, item) for i, (dec, item) in pairs]
            raise _located(exc, places) from None

    return (lambda v: [enc(item) for (enc, _), item in zip(plans, v, strict=True)]), decode_tuple


def _sequence(build: Callable[[list[Any]], Any], item: Any) -> tuple[Encoder, Decoder]:
    enc, dec = _plan(item)

    def decode_sequence(data: Any) -> Any:
        if not isinstance(data, list):
            raise StateError("", f"expected a list, got {_shown(data)}")
        try:
            return build([dec(x) for x in data])
        except StateError as exc:
            raise _located(exc, [(f"[{i}]", dec, x) for i, x in enumerate(data)]) from None

    return (lambda v: [enc(x) for x in v]), decode_sequence


def _mapping(build: Callable[[Any], Any], key: Any, value: Any) -> tuple[Encoder, Decoder]:
    enc_value, dec_value = _plan(value)
    as_object = key in (str, int) or (isinstance(key, type) and issubclass(key, enum.Enum))
    if not as_object:
        pairs = _sequence(list, tuple[key, value])
        return (lambda v: pairs[0](v.items())), lambda d: build(pairs[1](d))
    enc_key: Encoder = (lambda k: k.value) if key not in (str, int) else (lambda k: k)
    dec_key: Decoder = _number_key(key) if key is int else _plan(key)[1]

    def decode_mapping(data: Any) -> Any:
        if not isinstance(data, dict):
            raise StateError("", f"expected an object, got {_shown(data)}")
        try:
            return build([(dec_key(k), dec_value(v)) for k, v in data.items()])
        except StateError as exc:
            keys = [(f" key {k!r}", dec_key, k) for k in data]
            values = [(f"[{k!r}]", dec_value, v) for k, v in data.items()]
            raise _located(exc, keys + values) from None

    if key is str:
        return (lambda v: {k: enc_value(x) for k, x in v.items()}), decode_mapping
    return (lambda v: {str(enc_key(k)): enc_value(x) for k, x in v.items()}), decode_mapping


def _number_key(tp: type) -> Decoder:
    def decode_key(data: Any) -> Any:
        try:
            return tp(data)
        except ValueError:
            raise StateError("", f"expected a {tp.__name__} key") from None

    return decode_key


def _ndarray(dtype: Any) -> tuple[Encoder, Decoder]:
    def decode_array(data: Any) -> Any:
        try:
            return np.asarray(data, dtype=dtype)
        except (TypeError, ValueError) as exc:
            raise StateError("", f"expected an array of {np.dtype(dtype)}: {exc}") from None

    return (lambda v: v.tolist()), decode_array


def _dataclass(cls: type) -> tuple[Encoder, Decoder]:
    hints = typing.get_type_hints(cls, include_extras=True)
    saved = [f for f in dataclasses.fields(cls) if f.init and not f.metadata.get(TRANSIENT)]
    plans = {f.name: _plan(hints[f.name]) for f in saved}
    required = {f.name for f in saved if _no_default(f)}
    omitted = {f.name for f in saved if f.metadata.get(OMIT_EMPTY)}

    def encode_fields(value: Any) -> dict[str, Any]:
        out = {}
        for name, (enc, _) in plans.items():
            field_value = getattr(value, name)
            if name not in omitted or field_value:
                out[name] = enc(field_value)
        return out

    def decode_fields(data: Any) -> Any:
        if not isinstance(data, dict):
            raise StateError("", f"expected an object for {cls.__name__}, got {_shown(data)}")
        for name in data.keys() - plans.keys():
            raise StateError(f".{name}", f"not a field of {cls.__name__}")
        for name in required - data.keys():
            raise StateError(f".{name}", f"missing (a field of {cls.__name__})")
        try:
            return cls(**{k: plans[k][1](v) for k, v in data.items()})
        except StateError as exc:
            raise _located(exc, [(f".{k}", plans[k][1], v) for k, v in data.items()]) from None

    return encode_fields, decode_fields


def _row(cls: Any) -> tuple[Encoder, Decoder]:
    """A dataclass as the list of its fields' values, in order: for records kept by the
    thousand, where the field names would be most of the bytes."""
    hints = typing.get_type_hints(cls, include_extras=True)
    names = [f.name for f in dataclasses.fields(cls)]
    enc, dec = _tuple(tuple(hints[name] for name in names), lambda values: cls(*values))
    return (lambda v: enc([getattr(v, name) for name in names])), dec


def _no_default(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _model(cls: type[BaseModel]) -> tuple[Encoder, Decoder]:
    def decode_model(data: Any) -> Any:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
            raise StateError(where, f"{first['msg']} ({cls.__name__})") from None

    return (lambda v: v.model_dump(mode="json")), decode_model


def _compact(cls: Any) -> tuple[Encoder, Decoder]:
    def decode_compact(data: Any) -> Any:
        try:
            return cls.from_dict(data)
        except StateError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StateError("", f"not a saved {cls.__name__}: {exc!r}") from None

    return (lambda v: v.to_dict()), decode_compact


def _located(error: StateError, places: list[tuple[str, Decoder, Any]]) -> StateError:
    """``error`` under the first place whose value does not decode (found again only once
    decoding failed: the paths cost nothing while documents fit)."""
    for where, dec, value in places:
        try:
            dec(value)
        except StateError as exc:
            return exc.under(where)
    return error


def _shown(data: Any) -> str:
    text = repr(data) if not isinstance(data, Mapping | list) else type(data).__name__
    return text if len(text) <= 40 else text[:37] + "..."
