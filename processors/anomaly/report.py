"""Rich rendering of ``otel-perf anomaly score``: each row with the band it was expected in."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from otel_perf.processors.anomaly.score_csv import ScoredRow


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def print_scores(console: Console, rows: Sequence[ScoredRow], total: int) -> None:
    """A table of scored rows; flagged ones are marked and coloured."""
    table = Table("time", "value", "expected band", "score", "judged by", "")
    for row in rows:
        band = f"{_num(row.expected_low)} – {_num(row.expected_high)}"
        mark = "[red]ANOMALY[/red]" if row.anomaly else ""
        table.add_row(row.timestamp, _num(row.value), band, f"{row.score:.3f}", row.model, mark)
    console.print(table)
    flagged = sum(1 for r in rows if r.anomaly)
    console.print(f"{len(rows)} of {total} rows shown, {flagged} flagged as anomalies")
