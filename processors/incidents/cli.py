"""``otel-perf incidents``: one line per open or recent incident; ``--explain ID`` for one
incident's causal chain."""

from __future__ import annotations

import argparse
import urllib.parse
from typing import Any

from rich.console import Console

from otel_perf.cli.args import add_command
from otel_perf.cli.http import api_arguments, api_get, api_query, show


def add_parser(sub: Any) -> None:
    """Add ``incidents`` to the ``otel-perf`` subcommands ``sub``."""
    reader = add_command(
        sub,
        "incidents",
        cmd_incidents,
        "open and recent incidents, one line each: what broke, since when, why, what to do",
    )
    api_arguments(reader)
    reader.add_argument("--service", help="only incidents touching this service")
    reader.add_argument("--limit", type=int, default=50, help="at most this many of each")
    reader.add_argument("--explain", metavar="ID", help="one incident's members and causal chain")


def cmd_incidents(args: argparse.Namespace, console: Console) -> int:
    from otel_perf.processors.incidents.report import print_explain, print_incidents

    if args.explain:
        path = "/performance/incidents/" + urllib.parse.quote(args.explain, safe="")
        show(args, console, api_get(args, path), print_explain)
    else:
        show(
            args,
            console,
            api_get(args, "/performance/incidents" + api_query(args)),
            print_incidents,
        )
    return 0
