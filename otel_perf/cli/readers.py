"""The API readers: ``metrics``, ``health``, ``findings`` and ``recommendations`` and their
options; the tables are in ``otel_perf.cli.tables``. Components add their own readers
(``otel-perf slo``, ``bottlenecks``, ...) through their surfaces, with
:func:`otel_perf.cli.http.add_reader`."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from otel_perf.cli import tables
from otel_perf.cli.http import add_reader, api_get, api_query, show
from otel_perf.recommend.ranking import CATEGORIES


def add_parsers(sub: Any) -> None:
    """Add the reader commands to the ``otel-perf`` subcommands ``sub``."""
    add_reader(
        sub,
        "metrics",
        cmd_metrics,
        "what arrives: ingest counts, spans per service, RED per operation",
    )
    add_reader(
        sub,
        "health",
        cmd_health,
        "the sidecar's health: ok, degraded or critical, and why",
        rows=False,
    )
    findings = add_reader(
        sub, "findings", cmd_findings, "what otel-perf found, newest first, with its state"
    )
    findings.add_argument("--kind", help="only this kind (bottleneck, slo_burn, ...)")
    recommendations = add_reader(
        sub,
        "recommendations",
        cmd_recommendations,
        "one ranked list of actions from every processor",
    )
    recommendations.add_argument("--category", choices=CATEGORIES)


def cmd_metrics(args: argparse.Namespace, console: Console) -> int:
    data = api_get(args, "/performance/metrics" + api_query(args))
    show(args, console, data, tables.print_metrics)
    return 0


def cmd_health(args: argparse.Namespace, console: Console) -> int:
    """Exit 0 when ok, 1 when degraded, 2 when critical (or unknown)."""
    data = api_get(args, "/performance/health")
    show(args, console, data, lambda c, d: tables.print_health(c, d, args.api))
    return {"ok": 0, "degraded": 1}.get(str(data.get("status")), 2)


def cmd_recommendations(args: argparse.Namespace, console: Console) -> int:
    data = api_get(args, "/performance/recommendations" + api_query(args, category=args.category))
    show(args, console, data, lambda c, d: tables.recommendations_table(c, d["recommendations"]))
    return 0


def cmd_findings(args: argparse.Namespace, console: Console) -> int:
    data = api_get(args, "/performance/findings" + api_query(args, kind=args.kind))
    show(args, console, data, lambda c, d: tables.findings_table(c, d["findings"]))
    return 0
