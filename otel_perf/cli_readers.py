"""The API readers: ``metrics``, ``health``, ``findings``, ``bottlenecks``, ``slo`` and
``recommendations``, their options and the tables they print."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from otel_perf.cli_http import api_arguments, api_get, api_query, show
from otel_perf.recommendations import CATEGORIES


def add_parsers(sub: Any) -> None:
    """Add the reader commands to the ``otel-perf`` subcommands ``sub``."""
    for name, text in (
        ("metrics", "ingest counters and span counts per service"),
        ("health", "the sidecar's health"),
        ("findings", "stored findings, newest first"),
        ("bottlenecks", "critical-path ranking, slow queries, N+1, slow requests"),
        ("slo", "objectives: SLI, error budget, burn rates, alerts"),
        ("recommendations", "one ranked list of actions from every processor"),
    ):
        reader = sub.add_parser(name, help=text)
        api_arguments(reader)
        if name in ("findings", "bottlenecks", "metrics", "slo", "recommendations"):
            reader.add_argument("--service")
            reader.add_argument("--limit", type=int, default=50)
        if name == "findings":
            reader.add_argument("--kind")
        if name == "recommendations":
            reader.add_argument("--category", choices=CATEGORIES)


def cmd_metrics(args: argparse.Namespace, console: Console) -> int:
    show(args, console, api_get(args, "/performance/metrics" + api_query(args)), _print_metrics)
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
    data = api_get(args, "/performance/bottlenecks" + api_query(args))
    show(args, console, data, _print_bottlenecks)
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
    show(args, console, api_get(args, "/performance/slo" + api_query(args)), _print_slo)
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
    data = api_get(args, "/performance/health")

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

    show(args, console, data, render)
    return {"ok": 0, "degraded": 1}.get(str(data.get("status")), 2)


def cmd_recommendations(args: argparse.Namespace, console: Console) -> int:
    data = api_get(args, "/performance/recommendations" + api_query(args, category=args.category))
    show(args, console, data, lambda c, d: _recommendations_table(c, d["recommendations"]))
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
    data = api_get(args, "/performance/findings" + api_query(args, kind=args.kind))
    show(args, console, data, lambda c, d: findings_table(c, d["findings"]))
    return 0


def findings_table(console: Console, findings: list[dict[str, Any]]) -> None:
    table = Table("time_ns", "kind", "severity", "service", "subject", "summary", title="findings")
    for f in findings:
        table.add_row(
            str(f["time_ns"]), f["kind"], f["severity"], f["service"], f["subject"], f["summary"]
        )
    console.print(table)
