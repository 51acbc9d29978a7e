"""The suite shaped like NAB's withheld kinds (benchmarks/nab_shapes.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # benchmarks/ is a top-level folder, not installed

from benchmarks import nab_shapes  # noqa: E402


def test_the_shift_is_where_it_says_and_nothing_else_differs() -> None:
    shifted = nab_shapes.spiky_cpu(3, 5.0)
    again = nab_shapes.spiky_cpu(3, 5.0)
    assert np.array_equal(shifted.values, again.values)  # seeded
    assert shifted.onset is not None and shifted.end - shifted.onset == nab_shapes.SHIFT_POINTS
    assert shifted.onset >= 750  # past NAB's probationary period: the detector judges it
    lifted = nab_shapes.spiky_cpu(3, 10.0)
    differs = np.flatnonzero(lifted.values != shifted.values)
    assert differs.min() >= shifted.onset and differs.max() < shifted.end
    assert nab_shapes.spiky_cpu(3, None).onset is None


def test_counts_burst_about_daily_and_carry_no_anomaly() -> None:
    counts = nab_shapes.bursty_counts(0)
    assert counts.onset is None and len(counts.values) == nab_shapes.COUNT_POINTS
    assert np.array_equal(counts.values, np.round(counts.values)) and counts.values.min() >= 0
    daily = counts.values.reshape(-1, nab_shapes.DAY)
    assert (daily.max(axis=1) > 2.0 * np.median(daily, axis=1)).mean() > 0.5  # bursts most days


def test_the_suite_prints_figures_then_json(capsys: pytest.CaptureFixture[str]) -> None:
    nab_shapes.main(["--seeds", "1", "--first-seed", "2"])
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["first_seed"] == 2
    for name in nab_shapes.SETTINGS:
        figures = summary[name]
        assert figures["shifts"] == len(nab_shapes.SHIFTS_SIGMA)
        assert 0 <= figures["shifts_found"] <= figures["shifts"]
        assert set(figures["false_alarms_per_series_day"]) == {"cpu_clean", "counts"}
        assert any(line.startswith(name) for line in lines[:-1])


def test_seeds_are_bounded() -> None:
    with pytest.raises(SystemExit):
        nab_shapes.main(["--seeds", "0"])
