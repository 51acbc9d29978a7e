"""The commands of the processors with their own API: ``regression``, ``trends``,
``benchmark``, ``cache`` and ``capacity``. Their tables are in each processor's ``report``.
``anomaly score`` runs the anomaly detector over a CSV file here, without a sidecar."""

from __future__ import annotations

import argparse
import urllib.parse
from typing import Any

from rich.console import Console

from otel_perf.cli_args import add_command
from otel_perf.cli_http import CLIError, api_arguments, api_get, api_post, api_url, show
from otel_perf.processors.regression.benchmark_runner import MIN_WARMUP, default_warmup


def add_parsers(sub: Any) -> None:
    """Add the processors' commands to the ``otel-perf`` subcommands ``sub``."""
    _regression_parsers(sub)
    _cache_parsers(sub)
    _capacity_parsers(sub)
    _anomaly_parsers(sub)


def _anomaly_parsers(sub: Any) -> None:
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


def _regression_parsers(sub: Any) -> None:
    regression = add_command(
        sub,
        "regression",
        cmd_regression,
        "baselines, last verdicts, change points, version comparisons",
    )
    api_arguments(regression)
    trends = add_command(
        sub, "trends", cmd_trends, "the trend of a test's runs or an operation's p95"
    )
    trends.add_argument("name", help='a test name, or "service operation"')
    api_arguments(trends)
    bench = add_command(
        sub,
        "benchmark",
        cmd_benchmark,
        "time a URL or a Python callable here and record the run with the sidecar "
        "(--remote: the sidecar runs it)",
    )
    bench.add_argument("name", help="the test name (its first warm run becomes the baseline)")
    target = bench.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="GET this URL")
    target.add_argument("--callable", help="call module:function with no arguments")
    bench.add_argument("--iterations", type=int, default=100, help="timed calls (default: 100)")
    bench.add_argument(
        "--warmup",
        type=int,
        help="untimed calls before the timed ones (default: 10%% of --iterations, at least "
        f"{MIN_WARMUP}); 0 makes a cold run, which is no baseline without --cold-baseline",
    )
    bench.add_argument(
        "--cold-baseline",
        action="store_true",
        help="let a run without warm-up (--warmup 0) become the test's baseline",
    )
    bench.add_argument("--concurrency", type=int, default=1, help="calls at once (default: 1)")
    bench.add_argument("--timeout", type=float, default=10.0, help="per-request timeout (s)")
    bench.add_argument(
        "--remote",
        action="store_true",
        help="ask the sidecar to run it (the URL must be in its benchmark.allowed_targets, "
        "the callable in its benchmark.callables)",
    )
    api_arguments(bench)


def _capacity_parsers(sub: Any) -> None:
    capacity = add_command(
        sub,
        "capacity",
        cmd_capacity,
        "usage, forecasts, seasons, right-sizing and cost per resource (--dashboard, the "
        "default); a resource's forecast; HPA and KEDA configs",
    )
    capacity.add_argument("--dashboard", action="store_true", help="every resource (default)")
    api_arguments(capacity)
    actions = capacity.add_subparsers(dest="action", metavar="ACTION")
    forecast = actions.add_parser("forecast", help="a resource's forecast with its interval")
    forecast.add_argument("resource", help="the resource, as `otel-perf capacity` lists it")
    forecast.add_argument("--horizon", help='how far ahead, e.g. "7d" (default: the window)')
    scaling = actions.add_parser(
        "autoscaling", help="an autoscaling/v2 HPA and a KEDA ScaledObject for a resource"
    )
    scaling.add_argument("resource", help="the resource, as `otel-perf capacity` lists it")
    scaling.add_argument("--target", type=float, help="target utilisation in percent")
    scaling.add_argument("--min-replicas", type=int, help="the fewest replicas")
    scaling.add_argument("--max-replicas", type=int, help="the most replicas")
    scaling.add_argument("--service", help="the service whose workload scales")
    scaling.add_argument("--workload", help="the Deployment's name (default: the service)")
    scaling.add_argument("--namespace", default="default", help="Kubernetes namespace")
    scaling.add_argument("--days", type=int, default=2, help="days of replica schedule")
    scaling.add_argument(
        "--format", choices=["hpa", "keda", "both"], default="both", help="YAML to print"
    )
    for action in (forecast, scaling):
        action.set_defaults(command_parser=action)
        api_arguments(action)


def _cache_parsers(sub: Any) -> None:
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


def cmd_regression(args: argparse.Namespace, console: Console) -> int:
    from otel_perf.processors.regression.report import print_analysis

    data = api_get(args, "/performance/regression/analysis")
    show(args, console, data, print_analysis)
    return 0


def cmd_trends(args: argparse.Namespace, console: Console) -> int:
    from otel_perf.processors.regression.report import print_trend

    data = api_get(args, "/performance/trends/" + urllib.parse.quote(args.name, safe=""))
    show(args, console, data, print_trend)
    return 0


def cmd_benchmark(args: argparse.Namespace, console: Console) -> int:
    from otel_perf.processors.regression.report import print_benchmark, run_locally

    if args.iterations < 1 or (args.warmup or 0) < 0 or args.concurrency < 1:
        raise CLIError("need --iterations >= 1, --warmup >= 0 and --concurrency >= 1")
    if args.warmup is None:
        args.warmup = default_warmup(args.iterations)
    if args.warmup == 0 and not args.cold_baseline:
        _refuse_cold_baseline(args)
    body: dict[str, Any] = {"name": args.name}
    if args.remote:
        body |= {"url": args.url, "callable": args.callable}
        body = {k: v for k, v in body.items() if v is not None}
        body |= {"iterations": args.iterations, "warmup": args.warmup}
        body["concurrency"] = args.concurrency
        with console.status(f"the sidecar is running {args.name}..."):
            data = api_post(args, "/performance/benchmark/run", body)
    else:
        try:
            samples, target = run_locally(args, console)
        except (ImportError, AttributeError, ValueError) as exc:
            raise CLIError(f"cannot load {args.callable}: {exc}") from None
        if not samples:
            raise CLIError(f"every call to {target} failed")
        body |= {"samples_ms": samples, "target": target}
        data = api_post(args, "/performance/benchmark/run", body)
    show(args, console, data, print_benchmark)
    outcome = (data.get("run") or {}).get("outcome")
    return 1 if outcome == "regression" else 0


def _refuse_cold_baseline(args: argparse.Namespace) -> None:
    """A run without warm-up may be tested against a baseline, but not become one."""
    try:
        analysis = api_get(args, "/performance/regression/analysis")
    except CLIError:
        return  # no regression processor, or no API: the run itself reports that
    if not any(b.get("name") == args.name for b in analysis.get("baselines", [])):
        raise CLIError(
            f'"{args.name}" has no baseline yet, and a run with --warmup 0 is cold: it would '
            "become the baseline and make every warm run after it look like an improvement. "
            "Leave out --warmup 0, or pass --cold-baseline to use this cold run anyway"
        )


def cmd_capacity(args: argparse.Namespace, console: Console) -> int:
    from otel_perf.processors.capacity.report import (
        print_autoscaling,
        print_dashboard,
        print_forecast,
    )

    if args.action == "forecast":
        query = "?" + urllib.parse.urlencode({"horizon": args.horizon}) if args.horizon else ""
        resource = urllib.parse.quote(args.resource, safe="")
        data = api_get(args, f"/performance/capacity/forecast/{resource}{query}")
        show(args, console, data, print_forecast)
    elif args.action == "autoscaling":
        body: dict[str, Any] = {
            "resource": args.resource,
            "target_utilization": args.target,
            "min_replicas": args.min_replicas,
            "max_replicas": args.max_replicas,
            "service": args.service,
            "workload": args.workload,
            "namespace": args.namespace,
            "days": args.days,
        }
        data = api_post(
            args,
            "/performance/capacity/autoscaling-config",
            {k: v for k, v in body.items() if v is not None},
        )
        if args.output == "json":
            show(args, console, data, print_autoscaling)
        else:
            print_autoscaling(console, data, args.format)
    else:
        show(args, console, api_get(args, "/performance/capacity/dashboard"), print_dashboard)
    return 0


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
