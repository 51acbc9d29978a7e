"""The ``otel-perf`` command: run, validate, print-config, components, replay,
API readers (metrics, health, findings, regression, trends) and benchmark. Only ``main`` exits."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from otel_perf import __version__, cli_instrumentation, cli_processors, cli_readers
from otel_perf.cli_http import DEFAULT_API as DEFAULT_API
from otel_perf.cli_http import CLIError as CLIError
from otel_perf.cli_readers import findings_table
from otel_perf.components import exporter_types, processor_types
from otel_perf.config import ConfigError, load_config
from otel_perf.config.models import EXTENSION_TYPES, RECEIVER_TYPES
from otel_perf.store import StoreError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otel-perf", description=__doc__)
    parser.add_argument("--version", action="version", version=f"otel-perf {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="start the sidecar (embedded default config without --config)")
    run.add_argument("--config", "-c", help="YAML config file")
    run.add_argument("--store", help="SQLite store path (overrides service.store.path)")
    run.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])

    validate = sub.add_parser("validate", help="check a config file and report every problem")
    validate.add_argument("file")

    show = sub.add_parser("print-config", help="print the resolved config, secrets redacted")
    show.add_argument("--config", "-c")

    sub.add_parser("components", help="list the component types this build has")

    replay = sub.add_parser(
        "replay", help="feed OTLP JSON lines through the pipeline on event time"
    )
    replay.add_argument("files", nargs="+", type=Path)
    replay.add_argument("--config", "-c")
    replay.add_argument("--store", default=":memory:", help="store path (default: in memory)")
    replay.add_argument("--output", "-o", choices=["table", "json"], default="table")

    cli_readers.add_parsers(sub)
    cli_processors.add_parsers(sub)
    cli_instrumentation.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console()
    try:
        return int(COMMANDS[args.command](args, console))
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
            table.add_row(kind, name, (model.__doc__ or "").strip().splitlines()[0])
    for kind, factories in (("processor", processor_types()), ("exporter", exporter_types())):
        for name, factory in factories.items():
            table.add_row(kind, name, factory.description)
    console.print(table)
    return 0


def cmd_replay(args: argparse.Namespace, console: Console) -> int:
    from otel_perf.pipeline import Pipeline
    from otel_perf.replay import replay
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
    return 1 if report.errors else 0


COMMANDS = {
    "run": cmd_run,
    "validate": cmd_validate,
    "print-config": cmd_print_config,
    "components": cmd_components,
    "replay": cmd_replay,
    "metrics": cli_readers.cmd_metrics,
    "health": cli_readers.cmd_health,
    "findings": cli_readers.cmd_findings,
    "bottlenecks": cli_readers.cmd_bottlenecks,
    "slo": cli_readers.cmd_slo,
    "recommendations": cli_readers.cmd_recommendations,
    "regression": cli_processors.cmd_regression,
    "anomaly": cli_processors.cmd_anomaly,
    "trends": cli_processors.cmd_trends,
    "benchmark": cli_processors.cmd_benchmark,
    "cache": cli_processors.cmd_cache,
    "capacity": cli_processors.cmd_capacity,
    "instrumentation": cli_instrumentation.cmd_instrumentation,
}

if __name__ == "__main__":
    sys.exit(main())
