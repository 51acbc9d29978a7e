"""``otel-perf anomaly score FILE.csv``: the detector over any series in a CSV file, offline.

The file has a header with a time column (``timestamp``, ``time`` or ``t``: ISO 8601, taken as
UTC without an offset, or epoch seconds) and a ``value`` column; rows in time order. Each row
is scored exactly as the anomaly processor scores a point, and comes back with the band it was
expected in, the model that judged it and its score.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from otel_perf.processors.anomaly.detector import Detector, DetectorSettings, Direction
from otel_perf.processors.anomaly.series import threshold_for

TIME_COLUMNS = ("timestamp", "time", "t")


class ScoreError(ValueError):
    """A CSV file that cannot be scored; the message names the file, line and problem."""


@dataclass(frozen=True)
class ScoredRow:
    timestamp: str
    value: float
    expected_low: float | None  # None while no model has a band yet
    expected_high: float | None
    score: float
    anomaly: bool
    model: str


def parse_time_s(text: str, where: str) -> float:
    """Epoch seconds of an ISO 8601 time (UTC unless it says otherwise) or of a number."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ScoreError(f"{where}: time {text!r} is neither ISO 8601 nor epoch seconds") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def read_rows(path: Path) -> Iterator[tuple[str, float, float]]:
    """``(time as written, epoch seconds, value)`` of every row."""
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        fields = [name.strip().lower() for name in reader.fieldnames or []]
        time_column = next((c for c in TIME_COLUMNS if c in fields), None)
        if time_column is None or "value" not in fields:
            raise ScoreError(
                f"{path}:1: need a time column ({', '.join(TIME_COLUMNS)}) and a value column, "
                f"got {', '.join(fields) or 'no header'}"
            )
        reader.fieldnames = fields
        for line, row in enumerate(reader, start=2):
            where = f"{path}:{line}"
            stamp = row.get(time_column) or ""
            t_s = parse_time_s(stamp, where)
            try:
                value = float(row.get("value") or "")
            except ValueError:
                raise ScoreError(f"{where}: value {row.get('value')!r} is not a number") from None
            yield stamp.strip(), t_s, value


def score_file(
    path: Path, sensitivity: str = "medium", direction: Direction = "both", warm_up: int = 150
) -> list[ScoredRow]:
    """Score every row of ``path``; rows out of time order are an error."""
    threshold = threshold_for(sensitivity)
    detector = Detector(DetectorSettings(threshold=threshold, direction=direction, warm_up=warm_up))
    out: list[ScoredRow] = []
    last_t_s = -math.inf
    for line, (stamp, t_s, value) in enumerate(read_rows(path), start=2):
        if t_s <= last_t_s:
            raise ScoreError(f"{path}:{line}: time {stamp!r} is not after the row before")
        last_t_s = t_s
        score = detector.score_one(t_s, value)
        judged = detector.explain()
        out.append(
            ScoredRow(
                stamp,
                value,
                _finite(judged.expected_low),
                _finite(judged.expected_high),
                score,
                score >= threshold,
                judged.model,
            )
        )
    return out


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
