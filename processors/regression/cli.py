"""``otel-perf regression``, ``trends`` and ``benchmark``: the regression processor's commands
(tables in :mod:`otel_perf.processors.regression.report`)."""

from __future__ import annotations

import argparse
import urllib.parse
from typing import Any

from rich.console import Console

from otel_perf.cli.args import add_command
from otel_perf.cli.http import CLIError, api_arguments, api_get, api_post, show
from otel_perf.processors.regression.benchmark_runner import MIN_WARMUP, default_warmup


def add_parsers(sub: Any) -> None:
    """Add the regression processor's commands to the ``otel-perf`` subcommands ``sub``."""
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
