"""``otel-perf instrumentation``: per service, the signals and span kinds that arrive."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from otel_perf.cli.args import add_command
from otel_perf.cli.http import api_arguments, api_get, api_query, show


def add_parsers(sub: Any) -> None:
    """Add ``instrumentation`` to the ``otel-perf`` subcommands ``sub``."""
    reader = add_command(
        sub,
        "instrumentation",
        cmd_instrumentation,
        "per service: traces, metrics, logs and span kinds received; missing exit spans",
    )
    api_arguments(reader)
    reader.add_argument("--service", help="one service only")
    reader.add_argument("--limit", type=int, default=100, help="at most this many services")


def cmd_instrumentation(args: argparse.Namespace, console: Console) -> int:
    from otel_perf.processors.instrumentation.report import print_instrumentation

    data = api_get(args, "/performance/metrics" + api_query(args))
    show(args, console, {"instrumentation": data.get("instrumentation")}, print_instrumentation)
    return 0
