"""The tables the API readers print: units on every duration and size, the finding's
state and age, whole SQL fingerprints (wrapped, never cut), and a sentence instead of an
empty frame saying what is missing and when it fills."""

from __future__ import annotations

import json
import time
from typing import Any

from rich.console import Console

from otel_perf.cli.format import duration_ms, duration_s, empty, folding_table, size_bytes, when


def print_metrics(console: Console, data: Any) -> None:
    table = folding_table("signal", "accepted", "refused", "rejected", "processed", title="ingest")
    receiver = data["receiver"]
    for signal in receiver["accepted"]:
        table.add_row(
            signal,
            *(str(receiver[k][signal]) for k in ("accepted", "refused", "rejected")),
            str(data["processed"][signal]),
        )
    console.print(table)
    console.print(f"queue {data['queue']['depth']}/{data['queue']['capacity']} items")
    counts = data["services"]["counts"]
    if not counts:
        empty(console, "spans per service", NO_SPANS)
        return
    services = folding_table("service", "spans", title="spans per service")
    for name, count in sorted(counts.items(), key=lambda kv: -kv[1]):
        services.add_row(name, str(count))
    console.print(services)
    routes = folding_table("service and route", "server spans", title="routes")
    for name, count in sorted(data["routes"]["counts"].items(), key=lambda kv: -kv[1])[:50]:
        routes.add_row(name, str(count))
    if routes.rows:
        console.print(routes)
    else:
        empty(console, "routes", "Routes come from SERVER spans with http.route; none seen.")
    if "red" in data:
        _red_table(console, data["red"])


NO_SPANS = (
    "Point your apps' OTLP exporter at this sidecar (OTEL_EXPORTER_OTLP_ENDPOINT="
    "http://127.0.0.1:4317); counts appear as soon as the first spans arrive."
)


def _red_table(console: Console, rows: list[dict[str, Any]]) -> None:
    if not rows:
        empty(
            console,
            "RED",
            "Rate, errors and latency fill in once a span-metrics interval "
            "(10 s by default) closes after spans arrive.",
        )
        return
    table = folding_table(
        "service",
        "operation",
        "rate/s",
        "errors",
        "p50",
        "p95",
        "p99",
        title="RED over the last minute",
    )
    for r in rows:
        table.add_row(
            r["service"],
            r["operation"],
            f"{r['rate_per_s']:g}",
            f"{r['error_ratio']:.2%}",
            *(duration_ms(r[k]) for k in ("p50_ms", "p95_ms", "p99_ms")),
        )
    console.print(table)


def print_health(console: Console, data: Any, api: str) -> None:
    console.print(f"otel-perf at {api}: [bold]{data.get('status')}[/bold]")
    reasons = folding_table("status", "source", "reason", title="reasons")
    for r in data.get("reasons", []):
        reasons.add_row(r["status"], r["source"], r["text"])
    if data.get("reasons"):
        console.print(reasons)
    fields = folding_table("field", "value")
    for key, value in data.items():
        if key not in ("status", "reasons"):
            fields.add_row(key.removesuffix("_s"), health_value(key, value))
    console.print(fields)


def health_value(key: str, value: Any) -> str:
    if key == "uptime_s" and isinstance(value, int | float):
        return duration_s(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "-"
    if isinstance(value, dict):
        return ", ".join(
            f"{k} {size_bytes(v) if k.endswith('bytes') else v}" for k, v in value.items()
        )
    return json.dumps(value)


def recommendations_table(console: Console, items: list[dict[str, Any]]) -> None:
    if not items:
        empty(
            console,
            "recommendations",
            "Actions are drawn from findings and processor "
            "state; the first ones appear after a bottleneck window (1 min) of traffic.",
        )
        return
    table = folding_table(
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


def findings_table(
    console: Console, findings: list[dict[str, Any]], now_ns: int | None = None
) -> None:
    """Findings, newest first: when (local time or "3 min ago"), state, kind and summary."""
    if not findings:
        empty(
            console,
            "findings",
            "Processors report problems as they see them: bottlenecks "
            "and N+1 after each 1 min window, SLO burn and anomalies once enough events "
            "arrive, capacity forecasts after 6 h of usage.",
        )
        return
    now = time.time_ns() if now_ns is None else now_ns
    rows = folding_table("when", "state", "severity", "kind", "service", title="findings")
    rows.add_column("summary", ratio=1, min_width=30)
    for f in findings:
        rows.add_row(
            when(f["time_ns"], now),
            f.get("state", "open"),
            f["severity"],
            f["kind"],
            f["service"],
            f["summary"],
        )
    console.print(rows)
