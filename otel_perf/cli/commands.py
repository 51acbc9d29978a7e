"""The ``otel-perf`` command: run, validate, print-config, components and replay here; the
API readers in ``otel_perf.cli.readers``; each component's own commands come from its factory's
surface (``processors/<name>/cli.py``). Each command
is declared with :func:`~otel_perf.cli.args.add_command`, which binds its handler, so adding
one is a parser and a function in one module. Only ``main`` exits."""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from rich.console import Console
from rich.table import Table

from otel_perf import __version__
from otel_perf.cli import readers
from otel_perf.cli.args import WIDE, add_command, parse_args
from otel_perf.cli.http import DEFAULT_API as DEFAULT_API
from otel_perf.cli.http import CLIError as CLIError
from otel_perf.cli.tables import findings_table
from otel_perf.component import exporter_types, processor_types, surfaces
from otel_perf.config import ConfigError, load_config
from otel_perf.config.models import EXTENSION_TYPES, RECEIVER_TYPES
from otel_perf.store import StoreError

if TYPE_CHECKING:  # replay loads the pipeline: imported when the command runs
    from otel_perf.sidecar.replay import ReplayReport

DESCRIPTION = """\
otel-perf turns OpenTelemetry traces, metrics and logs into performance findings:
bottlenecks, slow queries and N+1 calls, SLO burn, anomalies, regressions, capacity
forecasts and cache advice.

Start it with "otel-perf run" (it listens for OTLP on 127.0.0.1:4317 and :4318 and
serves its API and dashboard on http://127.0.0.1:8080/), point your apps' OTLP exporter
at it, then read what it found with the commands below.
"""

EPILOG = """\
examples:
  otel-perf run                                 start with the built-in config
  otel-perf run -c otel-perf.yaml               start with your config
  otel-perf findings                            what it found, newest first
  otel-perf bottlenecks --service checkout      where the time goes
  otel-perf findings --api 10.0.0.5:8080        read another sidecar

"otel-perf COMMAND --help" shows a command's options.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-perf",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"otel-perf {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(sub)
    _add_config_commands(sub)
    _add_replay(sub)
    readers.add_parsers(sub)
    for surface in surfaces():
        if surface.cli:
            surface.cli(sub)
    return parser


def _add_run(sub: Any) -> None:
    run = add_command(sub, "run", cmd_run, "start the sidecar (the built-in config without -c)")
    run.add_argument("--config", "-c", help="YAML config file")
    run.add_argument("--store", help="SQLite store path (overrides service.store.path)")
    run.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="how much to log (default: info)",
    )


def _add_config_commands(sub: Any) -> None:
    validate = add_command(
        sub, "validate", cmd_validate, "check a config file and list every problem"
    )
    validate.add_argument("file", help="the YAML config file to check")

    show = add_command(
        sub, "print-config", cmd_print_config, "print the resolved config, secrets redacted"
    )
    show.add_argument("--config", "-c", help="YAML config file (default: the built-in one)")

    add_command(sub, "components", cmd_components, "list the component types this build has")


def _add_replay(sub: Any) -> None:
    replay = add_command(
        sub, "replay", cmd_replay, "feed recorded OTLP JSON lines through the pipeline"
    )
    replay.add_argument(
        "files", nargs="+", type=Path, help="files of OTLP JSON, one export request per line"
    )
    replay.add_argument("--config", "-c", help="YAML config file (default: the built-in one)")
    replay.add_argument("--store", default=":memory:", help="store path (default: in memory)")
    replay.add_argument(
        "--output",
        "-o",
        choices=["table", "json"],
        default="table",
        help="table for people (default) or one JSON line",
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(_parser(), argv)
    console = Console(width=WIDE) if getattr(args, "wide", False) else Console()
    try:
        return int(args.handler(args, console))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except (CLIError, StoreError, OSError) as exc:
        print(f"otel-perf {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    from otel_perf.sidecar import Sidecar

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = load_config(args.config)
    sidecar = Sidecar(config, store_path=args.store)
    ports = sidecar.start()
    logging.getLogger("otel_perf").info(
        "otel-perf %s running (config: %s, store: %s, grpc %s, http %s, api %s)",
        __version__,
        config.source,
        sidecar.pipeline.store.path,
        ports.grpc,
        ports.http,
        ports.api,
    )
    sidecar.run_until_signalled()
    return 0


def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    load_config(args.file)
    print(f"{args.file}: valid")
    return 0


def cmd_print_config(args: argparse.Namespace, console: Console) -> int:
    print(yaml.safe_dump(load_config(args.config).redacted(), sort_keys=False), end="")
    return 0


def cmd_components(args: argparse.Namespace, console: Console) -> int:
    table = Table("kind", "type", "description")
    for kind, names in (("receiver", RECEIVER_TYPES), ("extension", EXTENSION_TYPES)):
        for name, model in names.items():
            table.add_row(kind, name, plain_summary(model.__doc__))
    for kind, factories in (("processor", processor_types()), ("exporter", exporter_types())):
        for name, factory in factories.items():
            table.add_row(kind, name, factory.description)
    console.print(table)
    return 0


def plain_summary(doc: str | None) -> str:
    """A docstring's first line for people: ``"``receivers.otlp``: OTLP over gRPC"`` reads
    "OTLP over gRPC"."""
    line = (doc or "").strip().splitlines()[0] if (doc or "").strip() else ""
    line = re.sub(r"^``[^`]+``:\s*", "", line)
    line = line.replace("``", "")
    return line[:1].upper() + line[1:]


def cmd_replay(args: argparse.Namespace, console: Console) -> int:
    from otel_perf.pipeline import Pipeline
    from otel_perf.sidecar.replay import replay
    from otel_perf.store import Store

    config = load_config(args.config)
    for path in args.files:
        if not path.is_file():
            raise CLIError(f"{path}: no such file")
    pipeline = Pipeline(config, Store(args.store, config.service.store.max_findings))
    pipeline.start(worker=False)
    try:
        report = replay(pipeline, args.files)
    finally:
        pipeline.shutdown()
    for error in report.errors:
        print(f"warning: {error}", file=sys.stderr)
    _print_replay(args, console, report)
    return 1 if report.errors else 0


def _print_replay(args: argparse.Namespace, console: Console, report: ReplayReport) -> None:
    summary: dict[str, Any] = {
        "lines": report.lines,
        "items": report.items,
        "rejected": report.rejected,
        "errors": len(report.errors),
        "findings": [f.model_dump(mode="json") for f in report.findings],
    }
    if args.output == "json":
        print(json.dumps(summary, sort_keys=True))
    else:
        console.print(
            f"replayed {report.lines} lines, {report.items} items, {report.rejected} rejected, "
            f"{len(report.findings)} findings"
        )
        findings_table(console, summary["findings"])
