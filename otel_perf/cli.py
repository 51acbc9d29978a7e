"""The ``otel-perf`` command: run, validate, print-config, components, replay,
API readers (metrics, health, findings, regression, trends) and benchmark. Only ``main`` exits."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from otel_perf import __version__
from otel_perf.components import exporter_types, processor_types
from otel_perf.config import ConfigError, load_config
from otel_perf.config.models import EXTENSION_TYPES, RECEIVER_TYPES
from otel_perf.recommendations import CATEGORIES
from otel_perf.store import StoreError

DEFAULT_API = "http://127.0.0.1:8080"


class CLIError(Exception):
    """A failure to report in one line and exit non-zero."""


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

    for name, text in (
        ("metrics", "ingest counters and span counts per service"),
        ("health", "the sidecar's health"),
        ("findings", "stored findings, newest first"),
        ("bottlenecks", "critical-path ranking, slow queries, N+1, slow requests"),
        ("slo", "objectives: SLI, error budget, burn rates, alerts"),
        ("recommendations", "one ranked list of actions from every processor"),
    ):
        reader = sub.add_parser(name, help=text)
        reader.add_argument("--api", default=os.environ.get("OTEL_PERF_API", DEFAULT_API))
        reader.add_argument("--token", default=os.environ.get("OTEL_PERF_TOKEN"))
        reader.add_argument("--output", "-o", choices=["table", "json"], default="table")
        if name in ("findings", "bottlenecks", "metrics", "slo", "recommendations"):
            reader.add_argument("--service")
            reader.add_argument("--limit", type=int, default=50)
        if name == "findings":
            reader.add_argument("--kind")
        if name == "recommendations":
            reader.add_argument("--category", choices=CATEGORIES)
    _regression_parsers(sub)
    _cache_parsers(sub)
    _capacity_parsers(sub)
    return parser


def _api_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", default=os.environ.get("OTEL_PERF_API", DEFAULT_API))
    parser.add_argument("--token", default=os.environ.get("OTEL_PERF_TOKEN"))
    parser.add_argument("--output", "-o", choices=["table", "json"], default="table")


def _regression_parsers(sub: Any) -> None:
    regression = sub.add_parser(
        "regression", help="baselines, last verdicts, change points, version comparisons"
    )
    _api_arguments(regression)
    trends = sub.add_parser("trends", help="the trend of a test's runs or an operation's p95")
    trends.add_argument("name", help='a test name, or "service operation"')
    _api_arguments(trends)
    bench = sub.add_parser(
        "benchmark",
        help="time a URL or a Python callable here and record the run with the sidecar "
        "(--remote: the sidecar runs it)",
    )
    bench.add_argument("name", help="the test name (its first run becomes the baseline)")
    target = bench.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="GET this URL")
    target.add_argument("--callable", help="call module:function with no arguments")
    bench.add_argument("--iterations", type=int, default=100)
    bench.add_argument("--warmup", type=int, default=0)
    bench.add_argument("--concurrency", type=int, default=1)
    bench.add_argument("--timeout", type=float, default=10.0, help="per-request timeout (s)")
    bench.add_argument(
        "--remote",
        action="store_true",
        help="ask the sidecar to run it (the URL must be in its benchmark.allowed_targets, "
        "the callable in its benchmark.callables)",
    )
    _api_arguments(bench)


def _capacity_parsers(sub: Any) -> None:
    capacity = sub.add_parser(
        "capacity",
        help="usage, forecasts, seasons, right-sizing and cost per resource (--dashboard, the "
        "default); a resource's forecast; HPA and KEDA configs",
    )
    capacity.add_argument("--dashboard", action="store_true", help="every resource (default)")
    _api_arguments(capacity)
    actions = capacity.add_subparsers(dest="action", metavar="ACTION")
    forecast = actions.add_parser("forecast", help="a resource's forecast with its interval")
    forecast.add_argument("resource")
    forecast.add_argument("--horizon", help='how far ahead, e.g. "7d" (default: the window)')
    scaling = actions.add_parser(
        "autoscaling", help="an autoscaling/v2 HPA and a KEDA ScaledObject for a resource"
    )
    scaling.add_argument("resource")
    scaling.add_argument("--target", type=float, help="target utilisation in percent")
    scaling.add_argument("--min-replicas", type=int)
    scaling.add_argument("--max-replicas", type=int)
    scaling.add_argument("--service", help="the service whose workload scales")
    scaling.add_argument("--workload", help="the Deployment's name (default: the service)")
    scaling.add_argument("--namespace", default="default")
    scaling.add_argument("--days", type=int, default=2, help="days of replica schedule")
    scaling.add_argument(
        "--format", choices=["hpa", "keda", "both"], default="both", help="YAML to print"
    )
    for action in (forecast, scaling):
        _api_arguments(action)


def _cache_parsers(sub: Any) -> None:
    cache = sub.add_parser(
        "cache",
        help="cache stats and recommendations from telemetry (both without --stats or "
        "--optimizations); invalidate or warm up the apps' caches through the sidecar",
    )
    cache.add_argument("--stats", action="store_true", help="per cache and key prefix")
    cache.add_argument("--optimizations", action="store_true", help="the recommendations")
    cache.add_argument("--service")
    _api_arguments(cache)
    actions = cache.add_subparsers(dest="action", metavar="ACTION")
    invalidate = actions.add_parser("invalidate", help="invalidate entries in the apps' caches")
    invalidate.add_argument("--tag", action="append", default=[], dest="tags")
    invalidate.add_argument("--pattern", action="append", default=[], dest="patterns")
    invalidate.add_argument("--key", action="append", default=[], dest="keys")
    warmup = actions.add_parser("warmup", help="run the apps' registered warm-up loaders")
    warmup.add_argument("--key", action="append", default=[], dest="keys")
    for action in (invalidate, warmup):
        action.add_argument("--cache", help="one cache by name (default: every cache)")
        action.add_argument("--app", help="one configured app by name (default: every app)")
        # also accepted after the action; given there, they win over the ones before it
        action.add_argument("--api", default=argparse.SUPPRESS)
        action.add_argument("--token", default=argparse.SUPPRESS)
        action.add_argument("--output", "-o", choices=["table", "json"], default=argparse.SUPPRESS)


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
        _findings_table(console, summary["findings"])
    return 1 if report.errors else 0


def _get(args: argparse.Namespace, path: str) -> Any:
    request = urllib.request.Request(args.api.rstrip("/") + path)
    if args.token:
        request.add_header("Authorization", f"Bearer {args.token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (URL is ours)
            return json.load(response)
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:200]
        if exc.code != 503:  # health answers 503 with a body when degraded
            raise CLIError(f"{args.api}{path}: HTTP {exc.code}: {detail}") from None
        return json.loads(detail)
    except urllib.error.URLError as exc:
        raise CLIError(f"cannot reach the otel-perf API at {args.api}: {exc.reason}") from None


def _post(args: argparse.Namespace, path: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        args.api.rstrip("/") + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    if args.token:
        request.add_header("Authorization", f"Bearer {args.token}")
    try:
        with urllib.request.urlopen(request, timeout=600) as response:  # noqa: S310 (URL is ours)
            return json.load(response)
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        try:
            detail = json.loads(detail)["error"]
        except (ValueError, KeyError, TypeError):
            pass
        raise CLIError(f"{args.api}{path}: HTTP {exc.code}: {detail}") from None
    except urllib.error.URLError as exc:
        raise CLIError(f"cannot reach the otel-perf API at {args.api}: {exc.reason}") from None


def _show(
    args: argparse.Namespace, console: Console, data: Any, render: Callable[[Console, Any], None]
) -> None:
    """``--output json``: the API's answer as one JSON line; else ``render`` it for people."""
    if args.output == "json":
        print(json.dumps(data, sort_keys=True))
    else:
        render(console, data)


def _query(args: argparse.Namespace, **extra: str | None) -> str:
    params = {"limit": str(args.limit), "service": args.service, **extra}
    return "?" + urllib.parse.urlencode({k: v for k, v in params.items() if v})


def cmd_metrics(args: argparse.Namespace, console: Console) -> int:
    _show(args, console, _get(args, "/performance/metrics" + _query(args)), _print_metrics)
    return 0


def _print_metrics(console: Console, data: Any) -> None:
    table = Table("signal", "accepted", "refused", "rejected", "processed", title="ingest")
    receiver = data["receiver"]
    for signal in receiver["accepted"]:
        table.add_row(
            signal,
            *(str(receiver[k][signal]) for k in ("accepted", "refused", "rejected")),
            str(data["processed"][signal]),
        )
    console.print(table)
    console.print(f"queue {data['queue']['depth']}/{data['queue']['capacity']} items")
    services = Table("service", "spans", title="spans per service")
    for name, count in sorted(data["services"]["counts"].items(), key=lambda kv: -kv[1]):
        services.add_row(name, str(count))
    console.print(services)
    routes = Table("service and route", "server spans", title="routes")
    for name, count in sorted(data["routes"]["counts"].items(), key=lambda kv: -kv[1])[:50]:
        routes.add_row(name, str(count))
    console.print(routes)
    if "red" in data:
        _red_table(console, data["red"])


def _red_table(console: Console, rows: list[dict[str, Any]]) -> None:
    table = Table(
        "service",
        "operation",
        "rate/s",
        "errors",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        title="RED over the last minute",
    )
    for r in rows:
        table.add_row(
            r["service"],
            r["operation"],
            f"{r['rate_per_s']:g}",
            f"{r['error_ratio']:.2%}",
            *(_num(r[k]) for k in ("p50_ms", "p95_ms", "p99_ms")),
        )
    console.print(table)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def cmd_bottlenecks(args: argparse.Namespace, console: Console) -> int:
    _show(args, console, _get(args, "/performance/bottlenecks" + _query(args)), _print_bottlenecks)
    return 0


def _print_bottlenecks(console: Console, data: Any) -> None:
    ranking = Table(
        "service",
        "operation",
        "share of critical path",
        "critical ms",
        "self ms",
        "traces",
        "exemplar trace",
        title="bottlenecks",
    )
    for r in data["ranking"]:
        ranking.add_row(
            r["service"],
            r["operation"],
            f"{r['critical_path_share']:.1%}",
            _num(r["critical_path_ms"]),
            _num(r["self_time_ms"]),
            str(r["traces"]),
            (r["exemplar_trace_ids"] or ["-"])[0],
        )
    console.print(ranking)
    queries = Table("service", "db", "count", "p50 ms", "p95 ms", "fingerprint", title="queries")
    for q in data["slow_queries"][:20]:
        queries.add_row(
            q["service"],
            q["db_system"],
            str(q["count"]),
            _num(q["p50_ms"]),
            _num(q["p95_ms"]),
            q["fingerprint"][:80],
        )
    console.print(queries)
    patterns = Table(
        "pattern",
        "service",
        "parent operation",
        "calls",
        "saveable ms",
        "fingerprint",
        title="repeated and sequential calls",
    )
    for p in data["patterns"][:20]:
        patterns.add_row(
            p["pattern"],
            p["service"],
            p["parent_operation"],
            str(p["max_calls"]),
            _num(p["saveable_ms_per_trace"]),
            p["fingerprint"][:60],
        )
    console.print(patterns)


def cmd_slo(args: argparse.Namespace, console: Console) -> int:
    _show(args, console, _get(args, "/performance/slo" + _query(args)), _print_slo)
    return 0


def _print_slo(console: Console, data: Any) -> None:
    table = Table(
        "objective", "service", "target", "SLI", "budget left", "burn 1h", "alerts", title="SLOs"
    )
    for o in data["objectives"]:
        budget = o.get("budget") or {}
        burn = next((r["long"]["burn_rate"] for r in o.get("rules", [])), None)
        firing = [name for name, a in o["alerts"].items() if a["firing"]]
        table.add_row(
            o["name"],
            o["service"],
            f"{o['target']:.3%}",
            _pct(budget.get("sli")),
            _pct(budget.get("error_budget_remaining")),
            _num(burn),
            ", ".join(firing) or "-",
        )
    console.print(table)
    for o in data["objectives"]:
        if o.get("budget") and o["budget"]["total"]:
            console.print(
                f"[bold]{o['name']}[/bold]: " + o["budget"]["formulas"]["error_budget_remaining"]
            )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.3%}"


def cmd_health(args: argparse.Namespace, console: Console) -> int:
    """Exit 0 when ok, 1 when degraded, 2 when critical (or unknown)."""
    data = _get(args, "/performance/health")

    def render(console: Console, data: Any) -> None:
        console.print(f"otel-perf at {args.api}: [bold]{data.get('status')}[/bold]")
        reasons = Table("status", "source", "reason", title="reasons")
        for r in data.get("reasons", []):
            reasons.add_row(r["status"], r["source"], r["text"])
        if data.get("reasons"):
            console.print(reasons)
        table = Table("field", "value")
        for key, value in data.items():
            if key not in ("status", "reasons"):
                table.add_row(key, json.dumps(value) if not isinstance(value, str) else value)
        console.print(table)

    _show(args, console, data, render)
    return {"ok": 0, "degraded": 1}.get(str(data.get("status")), 2)


def cmd_recommendations(args: argparse.Namespace, console: Console) -> int:
    data = _get(args, "/performance/recommendations" + _query(args, category=args.category))
    _show(args, console, data, lambda c, d: _recommendations_table(c, d["recommendations"]))
    return 0


def _recommendations_table(console: Console, items: list[dict[str, Any]]) -> None:
    table = Table(
        "#", "severity", "category", "service", "action", "impact", "finding", title="actions"
    )
    for r in items:
        table.add_row(
            str(r["rank"]),
            r["severity"],
            r["category"],
            r["service"],
            r["action"],
            r["impact"]["text"],
            f"{r['finding']['kind']} {r['finding']['key']}",
        )
    console.print(table)


def cmd_findings(args: argparse.Namespace, console: Console) -> int:
    data = _get(args, "/performance/findings" + _query(args, kind=args.kind))
    _show(args, console, data, lambda c, d: _findings_table(c, d["findings"]))
    return 0


def _findings_table(console: Console, findings: list[dict[str, Any]]) -> None:
    table = Table("time_ns", "kind", "severity", "service", "subject", "summary", title="findings")
    for f in findings:
        table.add_row(
            str(f["time_ns"]), f["kind"], f["severity"], f["service"], f["subject"], f["summary"]
        )
    console.print(table)


def cmd_regression(args: argparse.Namespace, console: Console) -> int:
    from otel_perf.processors.regression.report import print_analysis

    data = _get(args, "/performance/regression/analysis")
    _show(args, console, data, print_analysis)
    return 0


def cmd_trends(args: argparse.Namespace, console: Console) -> int:
    from otel_perf.processors.regression.report import print_trend

    data = _get(args, "/performance/trends/" + urllib.parse.quote(args.name, safe=""))
    _show(args, console, data, print_trend)
    return 0


def cmd_benchmark(args: argparse.Namespace, console: Console) -> int:
    from otel_perf.processors.regression.report import print_benchmark, run_locally

    if args.iterations < 1 or args.warmup < 0 or args.concurrency < 1:
        raise CLIError("need --iterations >= 1, --warmup >= 0 and --concurrency >= 1")
    body: dict[str, Any] = {"name": args.name}
    if args.remote:
        body |= {"url": args.url, "callable": args.callable}
        body = {k: v for k, v in body.items() if v is not None}
        body |= {"iterations": args.iterations, "warmup": args.warmup}
        body["concurrency"] = args.concurrency
        with console.status(f"the sidecar is running {args.name}..."):
            data = _post(args, "/performance/benchmark/run", body)
    else:
        try:
            samples, target = run_locally(args, console)
        except (ImportError, AttributeError, ValueError) as exc:
            raise CLIError(f"cannot load {args.callable}: {exc}") from None
        if not samples:
            raise CLIError(f"every call to {target} failed")
        body |= {"samples_ms": samples, "target": target}
        data = _post(args, "/performance/benchmark/run", body)
    _show(args, console, data, print_benchmark)
    outcome = (data.get("run") or {}).get("outcome")
    return 1 if outcome == "regression" else 0


def cmd_capacity(args: argparse.Namespace, console: Console) -> int:
    from otel_perf.processors.capacity.report import (
        print_autoscaling,
        print_dashboard,
        print_forecast,
    )

    if args.action == "forecast":
        query = "?" + urllib.parse.urlencode({"horizon": args.horizon}) if args.horizon else ""
        resource = urllib.parse.quote(args.resource, safe="")
        data = _get(args, f"/performance/capacity/forecast/{resource}{query}")
        _show(args, console, data, print_forecast)
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
        data = _post(
            args,
            "/performance/capacity/autoscaling-config",
            {k: v for k, v in body.items() if v is not None},
        )
        if args.output == "json":
            _show(args, console, data, print_autoscaling)
        else:
            print_autoscaling(console, data, args.format)
    else:
        _show(args, console, _get(args, "/performance/capacity/dashboard"), print_dashboard)
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
        data = _post(args, f"/performance/cache/{args.action}", body)
        _show(args, console, data, print_control)
        return 0
    both = not args.stats and not args.optimizations
    query = "?" + urllib.parse.urlencode({"service": args.service}) if args.service else ""
    report: dict[str, Any] = {}
    if args.stats or both:
        report["stats"] = _get(args, "/performance/cache/stats" + query)
    if args.optimizations or both:
        report["optimizations"] = _get(args, "/performance/cache/optimizations" + query)
    _show(args, console, report, print_report)
    return 0


COMMANDS = {
    "run": cmd_run,
    "validate": cmd_validate,
    "print-config": cmd_print_config,
    "components": cmd_components,
    "replay": cmd_replay,
    "metrics": cmd_metrics,
    "health": cmd_health,
    "findings": cmd_findings,
    "bottlenecks": cmd_bottlenecks,
    "slo": cmd_slo,
    "recommendations": cmd_recommendations,
    "regression": cmd_regression,
    "trends": cmd_trends,
    "benchmark": cmd_benchmark,
    "cache": cmd_cache,
    "capacity": cmd_capacity,
}

if __name__ == "__main__":
    sys.exit(main())
