"""``otel-perf cache``: stats and recommendations; invalidate or warm up the apps' caches
(tables in :mod:`otel_perf.processors.cache.report`)."""

from __future__ import annotations

import argparse
import urllib.parse
from typing import Any

from rich.console import Console

from otel_perf.cli.args import add_command
from otel_perf.cli.http import CLIError, api_arguments, api_get, api_post, api_url, show


def add_parsers(sub: Any) -> None:
    """Add the cache processor's commands to the ``otel-perf`` subcommands ``sub``."""
    cache = add_command(
        sub,
        "cache",
        cmd_cache,
        "cache stats and recommendations from telemetry (both without --stats or "
        "--optimizations); invalidate or warm up the apps' caches through the sidecar",
    )
    cache.add_argument("--stats", action="store_true", help="per cache and key prefix")
    cache.add_argument("--optimizations", action="store_true", help="the recommendations")
    cache.add_argument("--service", help="only this service")
    api_arguments(cache)
    actions = cache.add_subparsers(dest="action", metavar="ACTION")
    invalidate = actions.add_parser("invalidate", help="invalidate entries in the apps' caches")
    invalidate.add_argument(
        "--tag",
        action="append",
        default=[],
        dest="tags",
        metavar="TAG",
        help="entries with this tag",
    )
    invalidate.add_argument(
        "--pattern",
        action="append",
        default=[],
        dest="patterns",
        metavar="GLOB",
        help="keys matching this glob",
    )
    invalidate.add_argument(
        "--key", action="append", default=[], dest="keys", metavar="KEY", help="this key"
    )
    warmup = actions.add_parser("warmup", help="run the apps' registered warm-up loaders")
    warmup.add_argument(
        "--key",
        action="append",
        default=[],
        dest="keys",
        metavar="KEY",
        help="only this key's loader",
    )
    for action in (invalidate, warmup):
        action.set_defaults(command_parser=action)
        action.add_argument("--cache", help="one cache by name (default: every cache)")
        action.add_argument("--app", help="one configured app by name (default: every app)")
        # also accepted after the action; given there, they win over the ones before it
        action.add_argument("--api", type=api_url, default=argparse.SUPPRESS)
        action.add_argument("--token", default=argparse.SUPPRESS)
        action.add_argument("--output", "-o", choices=["table", "json"], default=argparse.SUPPRESS)


def cmd_cache(args: argparse.Namespace, console: Console) -> int:
    from otel_perf.processors.cache.report import print_control, print_report

    if args.action is not None:
        body: dict[str, Any] = {"cache": args.cache, "keys": args.keys or None}
        if args.app:
            body["app"] = args.app
        if args.action == "invalidate":
            if not (args.tags or args.patterns or args.keys):
                raise CLIError("cache invalidate: give at least one --tag, --pattern or --key")
            body |= {"tags": args.tags, "patterns": args.patterns, "keys": args.keys}
        data = api_post(args, f"/performance/cache/{args.action}", body)
        show(args, console, data, print_control)
        return 0
    both = not args.stats and not args.optimizations
    query = "?" + urllib.parse.urlencode({"service": args.service}) if args.service else ""
    report: dict[str, Any] = {}
    if args.stats or both:
        report["stats"] = api_get(args, "/performance/cache/stats" + query)
    if args.optimizations or both:
        report["optimizations"] = api_get(args, "/performance/cache/optimizations" + query)
    show(args, console, report, print_report)
    return 0
