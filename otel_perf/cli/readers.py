"""The API readers: ``metrics``, ``health``, ``findings``, ``bottlenecks``, ``slo`` and
``recommendations`` and their options; the tables are in ``otel_perf.cli.tables``."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from otel_perf.cli import tables
from otel_perf.cli.args import add_command
from otel_perf.cli.http import api_arguments, api_get, api_query, show
from otel_perf.recommend.ranking import CATEGORIES


def add_parsers(sub: Any) -> None:
    """Add the reader commands to the ``otel-perf`` subcommands ``sub``."""
    for name, handler, text in (
        (
            "metrics",
            cmd_metrics,
            "what arrives: ingest counts, spans per service, RED per operation",
        ),
        ("health", cmd_health, "the sidecar's health: ok, degraded or critical, and why"),
        ("findings", cmd_findings, "what otel-perf found, newest first, with its state"),
        ("bottlenecks", cmd_bottlenecks, "where the time goes: critical path, slow queries, N+1"),
        ("slo", cmd_slo, "objectives: SLI, error budget, burn rates, alerts"),
        ("recommendations", cmd_recommendations, "one ranked list of actions from every processor"),
    ):
        reader = add_command(sub, name, handler, text)
        api_arguments(reader)
        if name in ("findings", "bottlenecks", "metrics", "slo", "recommendations"):
            reader.add_argument("--service", help="only this service")
            reader.add_argument("--limit", type=int, default=50, help="at most this many rows")
        if name == "findings":
            reader.add_argument("--kind", help="only this kind (bottleneck, slo_burn, ...)")
        if name == "recommendations":
            reader.add_argument("--category", choices=CATEGORIES)


def cmd_metrics(args: argparse.Namespace, console: Console) -> int:
    data = api_get(args, "/performance/metrics" + api_query(args))
    show(args, console, data, tables.print_metrics)
    return 0


def cmd_bottlenecks(args: argparse.Namespace, console: Console) -> int:
    data = api_get(args, "/performance/bottlenecks" + api_query(args))
    show(args, console, data, tables.print_bottlenecks)
    return 0


def cmd_slo(args: argparse.Namespace, console: Console) -> int:
    data = api_get(args, "/performance/slo" + api_query(args))
    show(args, console, data, tables.print_slo)
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
