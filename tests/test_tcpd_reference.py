"""The TCPDBench-default reference detectors of ``benchmarks.tcpd`` on known series."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # benchmarks/ is a top-level folder, not installed

from benchmarks._tcpd_reference import amoc, binseg, pelt, zero  # noqa: E402


def steps(levels: list[float], length: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(m, 1.0, length) for m in levels])[:, None]


def test_one_step_is_found_by_every_method() -> None:
    x = steps([0, 5], 60, 1)
    for method in (amoc, pelt, binseg):
        (found,) = method(x)
        assert abs(found - 60) <= 2, method.__name__
    assert zero(x) == []


def test_amoc_takes_one_and_binseg_at_most_five() -> None:
    x = steps([0, 5, 0, 5, 0, 5, 0, 5], 30, 2)
    assert len(amoc(x)) == 1
    assert len(binseg(x)) == 5
    assert len(pelt(x)) == 7


def test_noise_and_gaps() -> None:
    x = np.random.default_rng(3).normal(0, 1, (200, 1))
    assert pelt(x) == [] and amoc(x) == [] and binseg(x) == []
    gappy = steps([0, 5], 40, 4)
    gappy[[3, 50]] = np.nan
    assert amoc(gappy) == [40]
