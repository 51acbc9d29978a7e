"""The typed state codec: records round-trip exactly; damaged documents name their path."""

from __future__ import annotations

import json
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated, Any

import numpy as np
import pytest
from numpy.typing import NDArray
from pydantic import BaseModel

from otel_perf.codec import OMIT_EMPTY, ROW, TRANSIENT, StateError, decode, encode
from otel_perf.histogram import ExponentialHistogram
from otel_perf.series import RED


class Colour(Enum):
    RED = "red"
    BLUE = "blue"


class Label(BaseModel):
    text: str


@dataclass
class Leaf:
    count: int
    ratio: float | None = None
    colour: Colour = Colour.RED


@dataclass
class Tree:
    name: str
    leaves: list[Leaf]
    pair: tuple[int, str]
    path: tuple[float, ...]
    by_id: dict[int, Leaf]
    by_pair: dict[tuple[str, str], int]
    recent: deque[float]
    seen: Counter[str]
    order: OrderedDict[str, bool]
    weights: NDArray[np.float64]
    histogram: ExponentialHistogram
    label: Label
    cache: dict[str, int] = field(default_factory=dict, metadata={TRANSIENT: True})
    note: str = ""


def tree() -> Tree:
    histogram = ExponentialHistogram()
    histogram.record_many(np.array([0.001, 0.02, 0.3, 4.0]))
    return Tree(
        name="checkout",
        leaves=[Leaf(1), Leaf(2, 0.5, Colour.BLUE)],
        pair=(7, "x"),
        path=(1.0, 2.5),
        by_id={3: Leaf(3, None)},
        by_pair={("a", "b"): 1},
        recent=deque([0.1, 0.2]),
        seen=Counter({"absent": 2}),
        order=OrderedDict([("z", True), ("a", False)]),
        weights=np.array([[1.0, 2.0], [3.0, 4.5]]),
        histogram=histogram,
        label=Label(text="hi"),
        cache={"not": 1},
    )


def round_trip(value: Tree) -> Tree:
    return decode(Tree, json.loads(json.dumps(encode(Tree, value))))


def test_a_record_round_trips_through_json_with_its_types() -> None:
    before = tree()
    after = round_trip(before)
    assert after.leaves == before.leaves and after.by_id == before.by_id
    assert after.pair == (7, "x") and after.path == (1.0, 2.5)
    assert after.by_pair == {("a", "b"): 1}
    assert isinstance(after.recent, deque) and list(after.recent) == [0.1, 0.2]
    assert isinstance(after.seen, Counter) and after.seen == Counter({"absent": 2})
    assert isinstance(after.order, OrderedDict) and list(after.order) == ["z", "a"]
    assert after.weights.dtype == np.float64 and np.array_equal(after.weights, before.weights)
    assert after.histogram.to_dict() == before.histogram.to_dict()
    assert after.label == Label(text="hi") and after.leaves[1].colour is Colour.BLUE
    assert after.cache == {}  # transient: not saved, restored to its default
    assert encode(Tree, after) == encode(Tree, before)


def test_a_field_saved_before_it_existed_takes_its_default() -> None:
    assert decode(Leaf, {"count": 4}) == Leaf(4, None, Colour.RED)


@pytest.mark.parametrize(
    ("change", "path", "problem"),
    [
        (lambda d: d["leaves"][1].update(count="2"), "$.leaves[1].count", "expected int"),
        (lambda d: d["leaves"][0].update(colour="green"), "$.leaves[0].colour", "'red', 'blue'"),
        (lambda d: d["by_id"]["3"].pop("count"), "$.by_id['3'].count", "missing"),
        (lambda d: d["by_id"].update(x={"count": 1}), "$.by_id key 'x'", "expected a int"),
        (lambda d: d.update(extra=1), "$.extra", "not a field of Tree"),
        (lambda d: d.update(pair=[1]), "$.pair", "expected a list of 2"),
        (lambda d: d["weights"].append(["a", "b"]), "$.weights", "array of float64"),
        (lambda d: d["histogram"].pop("scale"), "$.histogram", "not a saved Exponential"),
        (lambda d: d["label"].update(text=3), "$.label.text", "string"),
        (lambda d: d.update(recent={}), "$.recent", "expected a list"),
        (lambda d: d["leaves"][0].update(count=True), "$.leaves[0].count", "got True"),
    ],
)
def test_a_damaged_document_names_the_field_and_its_path(
    change: Any, path: str, problem: str
) -> None:
    data = json.loads(json.dumps(encode(Tree, tree())))
    change(data)
    with pytest.raises(StateError) as raised:
        decode(Tree, data)
    assert raised.value.path == path
    assert problem in raised.value.problem


def test_a_type_without_an_encoding_is_refused_when_the_plan_is_made() -> None:
    with pytest.raises(TypeError, match="only X | None unions"):
        encode(int | str, 1)


@dataclass
class Rows:
    recent: deque[Annotated[Leaf, ROW]]


def test_a_row_record_is_saved_as_the_list_of_its_fields() -> None:
    rows = Rows(deque([Leaf(1, 0.5, Colour.BLUE), Leaf(2)]))
    assert encode(Rows, rows) == {"recent": [[1, 0.5, "blue"], [2, None, "red"]]}
    assert decode(Rows, encode(Rows, rows)) == rows
    with pytest.raises(StateError) as raised:
        decode(Rows, {"recent": [[1, 0.5, "blue"], [2, "x", "red"]]})
    assert raised.value.path == "$.recent[1][1]"


@dataclass
class Thresholds:
    calls: int
    within: dict[float, int] = field(default_factory=dict, metadata={OMIT_EMPTY: True})


def test_an_empty_omitted_field_is_left_out_and_float_keys_stay_numbers() -> None:
    assert encode(Thresholds, Thresholds(1)) == {"calls": 1}
    assert encode(Thresholds, Thresholds(1, {0.25: 3})) == {"calls": 1, "within": [[0.25, 3]]}
    assert decode(Thresholds, {"calls": 1, "within": [[0.1, 2]]}) == Thresholds(1, {0.1: 2})
    assert decode(Thresholds, {"calls": 1}) == Thresholds(1)


def test_red_keeps_the_document_it_always_wrote() -> None:
    histogram = ExponentialHistogram()
    histogram.record_many(np.array([0.01, 0.2]))
    red = RED(5, 1, histogram, {0.25: 3})
    body = {"calls": 5, "errors": 1, "duration_s": histogram.to_dict(), "within": [[0.25, 3]]}
    assert red.to_dict() == body
    again = RED.from_dict({"key": {"service": "shop"}, **body})  # as a series row holds it
    assert (again.calls, again.errors, again.within) == (5, 1, {0.25: 3})
    with pytest.raises(StateError, match=r"\$.calls: expected int"):
        RED.from_dict({**body, "calls": "5"})
