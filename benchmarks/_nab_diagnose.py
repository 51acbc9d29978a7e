"""Where a NAB score loses its points: missed windows, late detections, false-alarm rows.

The gap between a corpus's raw standard score and a perfect one splits exactly into three
parts (NAB's scoring, ``benchmarks/_nab_scoring.py``):

- **missed**: ``A_TP + A_FN`` per window with no detection (the credit it would have earned
  and the penalty it costs);
- **late**: ``A_TP − credit`` per found window, ``credit`` the scaled sigmoid of its earliest
  detection's position (``A_TP`` at the window's first row, ``0.86`` at its middle, where NAB
  puts the labelled point);
- **false alarms**: ``|cost|`` of every detection outside a window (``A_FP`` before the first
  window, less just after one).

In normalised points each part is ``100 · part / (perfect − null)``, so the three add up to
``100 − score``. Each detection is attributed to the model with the highest weighted score at
its row (:data:`~otel_perf.processors.anomaly.detector.MODELS`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from benchmarks import _nab_cv as cv
from benchmarks import _nab_scoring as nab
from otel_perf.processors.anomaly.detector import MODELS


@dataclass(frozen=True)
class WindowOutcome:
    """One labelled window: found or not, and if found where and by which model."""

    file: str
    first_row: int
    last_row: int
    row: int | None  # earliest detection in the window, None if missed
    credit: float  # its sweep score (0 when missed)
    model: str | None

    @property
    def position(self) -> float | None:
        """0 at the window's first row, 1 past its last (None when missed)."""
        if self.row is None:
            return None
        return (self.row - self.first_row) / (self.last_row - self.first_row + 1)


@dataclass(frozen=True)
class FalseAlarm:
    """A detection outside every window, what it cost and which model raised it."""

    file: str
    row: int
    cost: float  # negative
    model: str


@dataclass
class Diagnosis:
    """Every window's outcome and every false alarm of a set of files under one candidate."""

    cost: nab.CostMatrix
    windows: list[WindowOutcome] = field(default_factory=list)
    false_alarms: list[FalseAlarm] = field(default_factory=list)

    def raw(self) -> float:
        """The raw NAB score these outcomes make (as :func:`_nab_scoring.score_file` sums)."""
        found = sum(w.credit for w in self.windows if w.row is not None)
        missed = sum(1 for w in self.windows if w.row is None)
        return found - missed * self.cost.fn_weight + sum(f.cost for f in self.false_alarms)

    def losses(self) -> dict[str, float]:
        """Normalised points lost to missed windows, late detections and false alarms."""
        scale = 100.0 / (len(self.windows) * (self.cost.tp_weight + self.cost.fn_weight) or 1.0)
        missed = sum(1 for w in self.windows if w.row is None)
        late = sum(self.cost.tp_weight - w.credit for w in self.windows if w.row is not None)
        false_alarms = -sum(f.cost for f in self.false_alarms)
        return {  # + 0.0: no "-0.0" when nothing was lost
            "missed": round(scale * missed * (self.cost.tp_weight + self.cost.fn_weight), 2) + 0.0,
            "late": round(scale * late, 2) + 0.0,
            "false_alarms": round(scale * false_alarms, 2) + 0.0,
        }

    def summary(self) -> dict[str, object]:
        """Counts, the losses and the false alarms by model, JSON-ready."""
        found = [w for w in self.windows if w.row is not None]
        return {
            "windows": len(self.windows),
            "found": len(found),
            "missed": len(self.windows) - len(found),
            "false_alarm_rows": len(self.false_alarms),
            "lost": self.losses(),
            "false_alarms_by_model": dict(Counter(f.model for f in self.false_alarms)),
            "found_by_model": dict(Counter(w.model for w in found)),
        }


def diagnose(table: cv.Table, candidate: cv.Candidate, files: np.ndarray) -> Diagnosis:
    """Outcomes of ``candidate`` on the files of ``table`` where ``files`` is True."""
    d = candidate.decision
    weights = d.weights()
    out = Diagnosis(table.cost)
    per_model = table.scores[candidate.settings]
    for k in np.flatnonzero(files).tolist():
        series, sweep, scores = table.series[k], table.sweeps[k], per_model[k]
        detected = table.detections(scores, d).astype(bool) & sweep.scored
        judged = np.argmax(scores * weights, axis=1)
        for w in range(sweep.n_windows):
            rows = np.flatnonzero(sweep.window == w)
            hits = rows[detected[rows]]
            row = int(hits[np.argmax(sweep.sweep_score[hits])]) if hits.size else None
            out.windows.append(
                WindowOutcome(
                    series.name,
                    int(rows[0]),
                    int(rows[-1]),
                    row,
                    0.0 if row is None else float(sweep.sweep_score[row]),
                    None if row is None else MODELS[judged[row]],
                )
            )
        for row in np.flatnonzero(detected & (sweep.window == nab.OUTSIDE)).tolist():
            out.false_alarms.append(
                FalseAlarm(series.name, row, float(sweep.sweep_score[row]), MODELS[judged[row]])
            )
    return out


def render(diagnosis: Diagnosis, indent: str = "    ") -> list[str]:
    """Lines for people: each window, then the false alarms per file and model."""
    lines = []
    for w in diagnosis.windows:
        where = f"rows {w.first_row}-{w.last_row}"
        if w.row is None:
            lines.append(f"{indent}{w.file:<56} {where:<16} MISSED")
        else:
            lines.append(
                f"{indent}{w.file:<56} {where:<16} found at {w.row} "
                f"(position {w.position:.2f}, credit {w.credit:.3f}) by {w.model}"
            )
    by_file = Counter((f.file, f.model) for f in diagnosis.false_alarms)
    cost = Counter[tuple[str, str]]()
    for f in diagnosis.false_alarms:
        cost[(f.file, f.model)] += f.cost
    for (file, model), n in sorted(by_file.items()):
        lines.append(
            f"{indent}{file:<56} {n} false-alarm rows by {model} (cost {cost[(file, model)]:+.3f})"
        )
    return lines
