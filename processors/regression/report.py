"""The CLI's side of regression: tables of the analysis, trends and benchmark results, and
benchmarks run on the user's machine with a progress bar."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from otel_perf.processors.regression import benchmark_runner


def _num(value: Any, fmt: str = ".3g") -> str:
    return "-" if value is None else format(value, fmt)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{value:+.1%}"


def run_locally(args: argparse.Namespace, console: Console) -> tuple[list[float], str]:
    """Time ``--url`` or ``--callable`` here; returns the samples (ms) and the target."""
    if args.url:
        target, call = args.url, benchmark_runner.http_call(args.url, args.timeout)
    else:
        target, call = args.callable, _load(args.callable)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=args.output == "json",
    ) as progress:
        task = progress.add_task(f"{args.name}: {target}", total=args.iterations)
        result = benchmark_runner.run(
            call,
            args.iterations,
            args.warmup,
            args.concurrency,
            lambda done: progress.update(task, completed=done),
        )
    if result.errors:
        console.print(f"[yellow]{result.errors} calls failed[/yellow] ({result.first_error})")
    return result.samples_ms, target


def _load(spec: str) -> benchmark_runner.Call:
    module_name, sep, function = spec.partition(":")
    if not sep:
        raise ValueError(f'--callable expects "module:function", got "{spec}"')
    if os.getcwd() not in sys.path:  # like python -m: the current directory is importable
        sys.path.insert(0, os.getcwd())
    fn = getattr(importlib.import_module(module_name), function)
    if not callable(fn):
        raise ValueError(f'"{spec}" is not callable')
    return fn  # type: ignore[no-any-return]


def print_benchmark(console: Console, data: dict[str, Any]) -> None:
    stats = data.get("statistics") or {}
    table = Table("statistic", "value", title=f"benchmark {data['name']} ({data['target']})")
    table.add_row("calls timed", str(stats.get("count", 0)))
    table.add_row("failed calls", str(data.get("errors", 0)))
    if stats.get("count"):
        low, high = stats["mean_ci_ms"]
        table.add_row(
            "mean ms",
            f"{_num(stats['mean_ms'])} ({stats['confidence']:.0%} CI {_num(low)}..{_num(high)})",
        )
        for key in ("p50", "p90", "p95", "p99", "min", "max"):
            table.add_row(f"{key} ms", _num(stats[f"{key}_ms"]))
        outliers = stats["outliers"]
        table.add_row(
            "outliers (IQR)",
            f"{outliers['count']} outside "
            f"{_num(outliers['low_fence_ms'])}..{_num(outliers['high_fence_ms'])} ms",
        )
    console.print(table)
    if data.get("baseline_established"):
        console.print(f"baseline [bold]{data['name']}[/bold] established from this run")
    elif data.get("run"):
        run = data["run"]
        console.print(f"verdict: [bold]{run['outcome']}[/bold]: {run['verdict']['reason']}")


def print_analysis(console: Console, data: dict[str, Any]) -> None:
    table = Table(
        "baseline",
        "source",
        "p95 ms",
        "runs",
        "last verdict",
        "shift",
        "p-value",
        title="baselines",
    )
    for b in data["baselines"]:
        last = b.get("last_run") or {}
        verdict = last.get("verdict") or {}
        table.add_row(
            b["name"],
            b["source"],
            _num(b["summary"].get("p95")),
            str(b["runs"]),
            last.get("outcome", "-"),
            _pct(verdict.get("relative_shift")),
            _num(verdict.get("p_value")),
        )
    console.print(table)
    versions = Table(
        "service",
        "operation",
        "versions",
        "verdict",
        "shift",
        "p95 ms",
        title="version comparisons",
    )
    for c in data["version_comparisons"]:
        v = c["verdict"]
        versions.add_row(
            c["service"],
            c["operation"],
            f"{c['old_version']} -> {c['new_version']}",
            c["outcome"],
            _pct(v.get("relative_shift")),
            f"{_num(v.get('baseline_p95'))} -> {_num(v.get('current_p95'))}",
        )
    console.print(versions)
    points = Table("series", "time_s", "before ms", "after ms", title="change points (p95)")
    for p in data["change_points"]:
        points.add_row(
            p["series"],
            _num(p.get("time_s"), ".0f"),
            _num(p.get("before_ms")),
            _num(p.get("after_ms")),
        )
    console.print(points)


def print_trend(console: Console, data: dict[str, Any]) -> None:
    t = data["trend"]
    console.print(
        f"[bold]{data['name']}[/bold] ({data['source']}, {t['n']} points): "
        f"{t['direction']}, Mann-Kendall p={_num(t['p_value'])}"
    )
    table = Table("slope", "estimate", "low", "high", title="Theil-Sen slope of p95 (ms)")
    for unit in ("day", "week"):
        table.add_row(
            f"per {unit}",
            _num(t.get(f"slope_per_{unit}")),
            _num(t.get(f"slope_low_per_{unit}")),
            _num(t.get(f"slope_high_per_{unit}")),
        )
    console.print(table)
