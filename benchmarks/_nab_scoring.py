"""NAB scoring, as numenta/NAB's ``nab/sweeper.py`` and ``nab/optimizer.py`` do it.

Per file, every row gets a *sweep score* that depends only on where it sits relative to the
labelled anomaly windows (never on the detector):

- inside a window of width ``w`` whose right edge is row ``r``: the row's relative position is
  ``-(r - i + 1) / w`` and it scores ``scaled_sigmoid(position) * tp_weight / scaled_sigmoid(-1)``
  (the first row of a window scores exactly ``tp_weight``);
- outside any window: ``scaled_sigmoid(|r_prev - i| / (w_prev - 1)) * fp_weight`` after a window
  (FPs right after a window cost almost nothing), ``-fp_weight`` before the first window;
- rows in the probationary period, ``min(floor(0.15 * n), 0.15 * 5000)`` rows, are ignored.

A row is a detection when its anomaly score is ``>= threshold``. A window with no detection costs
``-fn_weight``; a detected window adds the best (earliest) detection's sweep score; every detection
outside a window adds its (negative) sweep score. The optimiser sweeps every distinct anomaly score
of the corpus as a threshold and keeps the best total. Normalised score:
``100 * (raw - null) / (perfect - null)`` with ``null = -n_windows * fn_weight`` and
``perfect = n_windows * tp_weight``.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

PROBATION_PERCENT = 0.15
OUTSIDE = -1  # window index of a row outside every window
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class CostMatrix:
    """One NAB profile's weights."""

    tp_weight: float
    fp_weight: float
    fn_weight: float


@dataclass(frozen=True)
class FileSweep:
    """Per-row sweep scores of one data file under one cost matrix."""

    sweep_score: FloatArray
    window: IntArray  # index of the row's window in the file, OUTSIDE if none
    scored: BoolArray  # False in the probationary period
    n_windows: int
    fn_weight: float


def parse_timestamp_s(text: str) -> float:
    """NAB timestamp (``YYYY-MM-DD HH:MM:SS[.ffffff]``, UTC) as epoch seconds."""
    return datetime.fromisoformat(text.strip()).replace(tzinfo=UTC).timestamp()


def scaled_sigmoid(position: float) -> float:
    """NAB's scaled sigmoid: 0.98661 at -1 (window start), 0 at the window's end, -1 from 3 on."""
    if position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def probationary_length(n_rows: int, percent: float = PROBATION_PERCENT) -> float:
    """Rows at the start of a file that are not scored."""
    return min(math.floor(percent * n_rows), percent * 5000)


def sweep_file(
    timestamps_s: Sequence[float],
    windows_s: Sequence[tuple[float, float]],
    cost: CostMatrix,
    probation_percent: float = PROBATION_PERCENT,
) -> FileSweep:
    """Sweep scores of every row of one file (``Sweeper.calcSweepScore``).

    Window limits must be timestamps of rows, as NAB requires.
    """
    n = len(timestamps_s)
    index = {t: i for i, t in enumerate(timestamps_s)}
    starts = {index[start]: index[end] for start, end in windows_s}
    max_tp = scaled_sigmoid(-1.0)
    sweep = np.empty(n)
    window = np.full(n, OUTSIDE, dtype=np.int64)
    right: int | None = None  # right edge of the window we are in
    width = 0.0
    prev_right: int | None = None
    prev_width = 0.0
    w = -1
    for i in range(n):
        if right is None and i in starts:
            right, w = starts[i], w + 1
            width = float(right - i + 1)
        if right is not None:
            sweep[i] = scaled_sigmoid(-(right - i + 1) / width) * cost.tp_weight / max_tp
            window[i] = w
            if i == right:
                prev_right, prev_width, right = right, width, None
        elif prev_right is None:
            sweep[i] = -cost.fp_weight
        else:
            sweep[i] = scaled_sigmoid(abs(prev_right - i) / (prev_width - 1.0)) * cost.fp_weight
    scored = np.arange(n) >= probationary_length(n, probation_percent)
    return FileSweep(sweep, window, scored, len(starts), cost.fn_weight)


def score_file(sweep: FileSweep, anomaly_scores: FloatArray, threshold: float) -> float:
    """Raw NAB score of one file with detections where ``anomaly_score >= threshold``."""
    detected = (anomaly_scores >= threshold) & sweep.scored
    total = float(sweep.sweep_score[detected & (sweep.window == OUTSIDE)].sum())
    for w in range(sweep.n_windows):
        hits = sweep.sweep_score[detected & (sweep.window == w)]
        total += float(hits.max()) if hits.size else -sweep.fn_weight
    return total


def optimise_threshold(
    sweeps: Sequence[FileSweep], anomaly_scores: Sequence[FloatArray]
) -> tuple[float, float]:
    """Best ``(threshold, raw score)`` over the corpus (``Sweeper.calcScoreByThreshold``).

    Every distinct anomaly score is tried as a threshold, from the highest down; ties keep the
    highest threshold, as NAB's stable descending sort does.
    """
    scores, sweep_scores, windows = [], [], []
    offset = 0
    n_windows = 0
    fn_weight = sweeps[0].fn_weight if sweeps else 1.0
    for sweep, file_scores in zip(sweeps, anomaly_scores, strict=True):
        keep = sweep.scored
        scores.append(file_scores[keep])
        sweep_scores.append(sweep.sweep_score[keep])
        win = sweep.window[keep]
        windows.append(np.where(win == OUTSIDE, OUTSIDE, win + offset))
        offset += sweep.n_windows
        n_windows += sweep.n_windows
    all_scores = np.concatenate(scores) if scores else np.empty(0)
    all_sweep = np.concatenate(sweep_scores) if scores else np.empty(0)
    all_windows = np.concatenate(windows) if scores else np.empty(0, dtype=np.int64)
    order = np.argsort(-all_scores, kind="stable")
    best_part = [-fn_weight] * n_windows
    total = -fn_weight * n_windows
    best_threshold, best_total = 1.1, total
    current = 1.1
    for k in order.tolist():
        value = float(all_scores[k])
        if value != current:
            if total > best_total:
                best_threshold, best_total = current, total
            current = value
        w = int(all_windows[k])
        s = float(all_sweep[k])
        if w == OUTSIDE:
            total += s
        elif s > best_part[w]:
            total += s - best_part[w]
            best_part[w] = s
    if total > best_total:
        best_threshold, best_total = current, total
    return best_threshold, best_total


def normalise(raw: float, n_windows: int, cost: CostMatrix) -> float:
    """``100 * (raw - null) / (perfect - null)`` for this corpus's windows."""
    null = -n_windows * cost.fn_weight
    perfect = n_windows * cost.tp_weight
    return 100.0 * (raw - null) / (perfect - null)


def load_profiles(path: Path) -> dict[str, CostMatrix]:
    """NAB's ``config/profiles.json`` as cost matrices by profile name."""
    raw = json.loads(path.read_text())
    return {
        name: CostMatrix(
            tp_weight=float(p["CostMatrix"]["tpWeight"]),
            fp_weight=float(p["CostMatrix"]["fpWeight"]),
            fn_weight=float(p["CostMatrix"]["fnWeight"]),
        )
        for name, p in raw.items()
    }


def load_windows(path: Path) -> dict[str, list[tuple[float, float]]]:
    """``labels/combined_windows.json`` as epoch-second limits by ``<category>/<file>.csv``."""
    raw: Mapping[str, list[list[str]]] = json.loads(path.read_text())
    return {
        name: [(parse_timestamp_s(a), parse_timestamp_s(b)) for a, b in limits]
        for name, limits in raw.items()
    }


def read_series(path: Path, column: str = "value") -> tuple[list[float], list[float]]:
    """``(timestamps_s, column)`` of a NAB data or results CSV."""
    timestamps_s: list[float] = []
    values: list[float] = []
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            timestamps_s.append(parse_timestamp_s(row["timestamp"]))
            values.append(float(row[column]))
    return timestamps_s, values
