"""Rows grouped in C (``otel_perf._groups``) against the numpy code it replaces."""

from __future__ import annotations

import numpy as np
import pytest

from otel_perf import facts
from otel_perf.facts import (
    group_by,
    group_by_numpy,
    group_rows,
    group_rows_numpy,
)
from otel_perf.operation_column import combination_keys

pytestmark = pytest.mark.skipif(not facts.NATIVE_GROUPS, reason="extension not built or off")
DTYPES = (np.int8, np.int16, np.int32, np.int64)


def parts_of(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """A few columns of every width, some strided (a column of a wider array)."""
    parts: list[np.ndarray] = []
    for i in range(int(rng.integers(1, 6))):
        dtype = DTYPES[i % len(DTYPES)]
        values = rng.integers(-3, int(rng.integers(1, 5)), (n, 2)).astype(dtype)
        parts.append(values[:, 0] if rng.random() < 0.5 else values[:, 0].copy())
    if rng.random() < 0.3:  # a wide int64 part: codes far apart
        parts.append(rng.choice([-(2**40), 0, 2**40 + 7], n).astype(np.int64))
    return parts


@pytest.mark.parametrize("seed", range(40))
def test_native_grouping_matches_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 700))
    parts = parts_of(rng, n)
    flags = rng.random(n) < 0.3
    rows = None if seed % 2 else np.flatnonzero(rng.random(n) < 0.7)
    native, reference = group_by(parts, rows, flags), group_by_numpy(parts, rows, flags)
    for got, expected in zip(native, reference, strict=True):
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, expected)
    for got, expected in zip(group_rows(parts), group_rows_numpy(parts), strict=True):
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, expected)


def test_no_rows() -> None:
    parts = [np.arange(4, dtype=np.int32)]
    for grouping in (group_by, group_by_numpy):
        first, order, bounds, flagged = grouping(parts, np.zeros(0, np.intp), np.ones(4, bool))
        assert (len(first), len(order), bounds.tolist(), len(flagged)) == (0, 0, [0], 0)


@pytest.mark.parametrize(
    ("parts", "rows", "message"),
    [
        ((np.zeros(3, np.uint32),), None, r"parts\[0\]: expected a 1-D column of signed"),
        ((np.zeros((3, 2), np.int32),), None, r"parts\[0\]: expected a 1-D column"),
        ((np.zeros(3, np.int32), np.zeros(4, np.int8)), None, r"parts\[1\]: 4 rows, expected 3"),
        ((np.zeros(3, np.int32),), np.array([0, 3]), r"rows\[1\]: 3 is not a row of 3"),
        ((), None, "parts: expected 1 to 32 columns, got 0"),
    ],
)
def test_bad_arguments_are_named(parts: tuple[np.ndarray, ...], rows: object, message: str) -> None:
    out = [np.empty(4, np.int64), None, np.empty(5, np.int64), None, np.empty(4, np.int32)]
    with pytest.raises(ValueError, match=message):
        facts._groups.group(parts, rows, np.zeros(3, bool), *out)


@pytest.mark.parametrize("seed", range(20))
def test_native_combination_keys_match_python(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    strings = [f"s{i}" for i in range(6)]
    others = [(int, "1"), (float, "1.0"), (bool, "True")]
    parts = [rng.integers(0, 6, n).astype(np.int8)]  # a value itself (tag None)
    drawn = rng.integers(-5, 6, (2, n))
    values = np.where(drawn == -2, -1, drawn)  # -2 (OTHER) never reaches the keys
    k = int(rng.integers(1, 3))
    parts += [v.astype(dtype) for v, dtype in zip(values[:k], DTYPES[:k], strict=True)]
    tags = (None, *range(len(parts) - 1))
    first, _ = group_rows(parts)
    native = facts._groups.keys(tuple(parts), tags, first, strings, others)
    assert native == combination_keys(parts, tags, first, strings, others)
    assert len(set(native)) == len(first)  # groups differ in a value, so their keys do


@pytest.mark.parametrize(
    ("parts", "tags", "first", "message"),
    [
        ((np.array([7], np.int32),), (0,), [0], r"parts\[0\]: id 7 names no string"),
        ((np.array([-9], np.int32),), (0,), [0], r"parts\[0\]: id -9 names no value"),
        ((np.array([-2], np.int32),), (0,), [0], r"parts\[0\]: id -2 names no value"),
        ((np.array([1], np.int32),), (0,), [3], r"first\[0\]: 3 is not a row of 1"),
        ((np.array([1], np.int32),), (0, 1), [0], "expected 1 to 32 columns and a tag each"),
    ],
)
def test_bad_keys_arguments_are_named(
    parts: tuple[np.ndarray, ...], tags: tuple[int, ...], first: list[int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        facts._groups.keys(parts, tags, np.array(first, np.int32), ["a", "b"], [(int, "1")])
    if len(tags) == len(parts) and max(first) < len(parts[0]):
        with pytest.raises(ValueError, match=message):
            combination_keys(parts, tags, np.array(first, np.int32), ["a", "b"], [(int, "1")])


@pytest.mark.parametrize(
    ("decide", "reads", "message"),
    [
        ((None,) * 5, (), "decide: expected 6 columns, got 5"),
        ((None,) * 6, ((np.zeros(3, np.int32), 6),), r"reads\[0\]: expected \(column, mask 0-5\)"),
        ((None,) * 6, ((np.zeros(2, np.int32), 0),), "reads: every column needs 3 rows"),
        ((np.zeros(4, np.int32), *(None,) * 5), (), "reads: every column needs 3 rows"),
    ],
)
def test_bad_reads_arguments_are_named(
    decide: tuple[object, ...], reads: object, message: str
) -> None:
    kind, name = np.zeros(3, np.int8), np.zeros(3, np.int32)
    out = np.empty(3, np.int32), np.empty((len(reads), 3), np.int32)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        facts._groups.reads(kind, name, np.ones(2, bool), decide, reads, *out)
