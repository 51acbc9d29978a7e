"""TCPDBench's metrics: its own doctest examples plus hand-checked cases."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # benchmarks/ is a top-level folder, not installed

from benchmarks._tcpd_metrics import (  # noqa: E402
    cover_single,
    covering,
    f_measure,
    overlap,
    partition_from_cps,
    true_positives,
)


def test_true_positives_tcpdbench_examples() -> None:
    assert true_positives({1, 10, 20, 23}, {3, 8, 20}) == {1, 10, 20}
    assert true_positives({1, 10, 20, 23}, {1, 3, 8, 20}) == {1, 10, 20}
    assert true_positives({1, 10, 20, 23}, {1, 3, 5, 8, 20}) == {1, 10, 20}
    assert true_positives(set(), {1, 2, 3}) == set()
    assert true_positives({1, 2, 3}, set()) == set()


def test_f_measure_tcpdbench_examples() -> None:
    assert f_measure({1: [10, 20], 2: [11, 20], 3: [10], 4: [0, 5]}, [10, 20])[0] == 1.0
    assert f_measure({1: [], 2: [10], 3: [50]}, [10])[0] == pytest.approx(0.9090909090909091)
    assert f_measure({1: [], 2: [10], 3: [50]}, [])[0] == pytest.approx(0.8)


def test_f_measure_by_hand() -> None:
    # predictions {0, 30, 90}; union {0, 30, 60}: TP {0, 30} -> P = 2/3
    # annotator a {0, 32}: 2/2; annotator b {0, 60}: 1/2 -> R = 3/4; F1 = 2PR/(P+R) = 12/17
    f, p, r = f_measure({"a": [32], "b": [60]}, [30, 90])
    assert (p, r) == (pytest.approx(2 / 3), pytest.approx(3 / 4))
    assert f == pytest.approx(12 / 17)
    # margin is inclusive at 5 and each prediction matches one true point only
    assert f_measure({"a": [25]}, [30])[1:] == (1.0, 1.0)
    assert f_measure({"a": [24]}, [30])[1:] == (0.5, 0.5)
    assert f_measure({"a": [20, 22]}, [21])[2] == pytest.approx(2 / 3)


def test_overlap_and_partition_tcpdbench_examples() -> None:
    assert overlap({1, 2, 3}, set()) == 0.0
    assert overlap({1, 2, 3}, {2, 5}) == 0.25
    assert overlap({1, 2, 3}, {1, 2, 3}) == 1.0
    assert partition_from_cps([], 5) == [{0, 1, 2, 3, 4}]
    assert partition_from_cps([3, 5], 8) == [{0, 1, 2}, {3, 4}, {5, 6, 7}]
    assert partition_from_cps([1, 2, 7], 8) == [{0}, {1}, {2, 3, 4, 5, 6}, {7}]
    assert partition_from_cps([0, 4], 6) == [{0, 1, 2, 3}, {4, 5}]


def test_cover_single_tcpdbench_examples() -> None:
    assert cover_single([{1, 2, 3}, {4, 5}, {6}], [{1, 2, 3}, {4, 5, 6}]) == pytest.approx(5 / 6)
    assert cover_single([{1, 2, 3, 4}, {5, 6}], [{1, 2, 3, 4, 5, 6}]) == pytest.approx(2 / 3)
    assert cover_single([{1, 2}, {3, 4}, {5, 6}], [{1, 2, 3}, {4, 5, 6}]) == pytest.approx(2 / 3)
    assert cover_single([{1, 2, 3, 4, 5, 6}], [{1}, {2}, {3}, {4, 5, 6}]) == pytest.approx(1 / 3)


def test_covering_tcpdbench_examples() -> None:
    assert covering({1: [10, 20], 2: [10], 3: [0, 5]}, [10, 20], 45) == pytest.approx(
        0.7962962962962963
    )
    assert covering({1: [], 2: [10], 3: [40]}, [10], 45) == pytest.approx(0.7954144620811286)
    assert covering({1: [], 2: [10], 3: [40]}, [], 45) == pytest.approx(0.8189300411522634)


def test_covering_by_hand() -> None:
    # truth [0..9] [10..19]; prediction one segment: each half covered with Jaccard 10/20
    assert covering({"a": [10]}, [], 20) == pytest.approx(0.5)
    assert covering({"a": [10]}, [10], 20) == 1.0
