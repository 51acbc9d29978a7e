"""``otel-perf anomaly score``: the anomaly detector over a CSV file, without a sidecar."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from otel_perf.cli.args import add_command
from otel_perf.cli.http import CLIError


def add_parsers(sub: Any) -> None:
    """Add the anomaly processor's commands to the ``otel-perf`` subcommands ``sub``."""
    anomaly = add_command(
        sub, "anomaly", cmd_anomaly, "score a series from a CSV file with the detector"
    )
    actions = anomaly.add_subparsers(dest="action", metavar="ACTION", required=True)
    score = actions.add_parser(
        "score", help="every row with its expected band, score and judging model"
    )
    score.add_argument("file", help="CSV with a timestamp (or time, t) and a value column")
    score.add_argument("--sensitivity", choices=["low", "medium", "high"], default="medium")
    score.add_argument("--direction", choices=["both", "up", "down"], default="both")
    score.add_argument("--warm-up", type=int, default=150, help="points before any alert")
    score.add_argument("--anomalies", action="store_true", help="only the rows flagged")
    score.add_argument("--output", "-o", choices=["table", "json"], default="table")
    score.set_defaults(command_parser=score)


def cmd_anomaly(args: argparse.Namespace, console: Console) -> int:
    import dataclasses
    import json
    from pathlib import Path

    from otel_perf.processors.anomaly.report import print_scores
    from otel_perf.processors.anomaly.score_csv import ScoreError, score_file

    if args.warm_up < 0:
        raise CLIError("anomaly score: --warm-up must be >= 0")
    try:
        rows = score_file(Path(args.file), args.sensitivity, args.direction, args.warm_up)
    except ScoreError as exc:
        raise CLIError(str(exc)) from None
    shown = [r for r in rows if r.anomaly] if args.anomalies else rows
    if args.output == "json":
        for row in shown:
            print(json.dumps(dataclasses.asdict(row)))
    else:
        print_scores(console, shown, len(rows))
    return 0
