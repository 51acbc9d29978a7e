"""Declaring ``otel-perf`` subcommands: each parser carries its handler, and a mistake in a
command's options is reported with that command's usage, not the top-level one."""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable
from typing import Any

from rich.console import Console

Handler = Callable[[argparse.Namespace, Console], int]
#: console width for ``--wide``: rows are never wrapped
WIDE = 100_000


def add_command(
    sub: Any, name: str, handler: Handler, help: str, description: str | None = None
) -> argparse.ArgumentParser:
    """Add subcommand ``name`` to ``sub`` (an ``add_subparsers`` action), run by ``handler``.

    ``help`` is the one line in ``otel-perf --help``; ``description`` (default: ``help``)
    heads ``otel-perf NAME --help``.
    """
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help,
        description=description or textwrap.fill(help[:1].upper() + help[1:] + ".", 79),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=handler, command_parser=parser)
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse ``argv``; an unknown option exits with the usage of the command it was given to."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        command: argparse.ArgumentParser = getattr(args, "command_parser", parser)
        command.error(f"unrecognized arguments: {' '.join(extra)}")
    return args
