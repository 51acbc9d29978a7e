"""Rich rendering of the instrumentation view for ``otel-perf instrumentation``."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from otel_perf.processors.instrumentation.coverage import CATEGORIES, SIGNALS


def _count(seen: dict[str, Any] | None) -> str:
    return "-" if not seen else str(seen.get("count", 0))


def print_instrumentation(console: Console, data: dict[str, Any]) -> None:
    """One row per service: signals and span categories received, then the verdict."""
    view = data.get("instrumentation")
    if view is None:
        console.print(
            "no instrumentation view: add the instrumentation processor to the traces, "
            "metrics and logs pipelines (it is in the embedded default config)"
        )
        return
    services: dict[str, Any] = view.get("services") or {}
    if not services:
        console.print("no telemetry received yet: services appear here with their first span")
        return
    table = Table(title=f"Instrumentation (window {view.get('window_s', 0):g} s)")
    table.add_column("service", no_wrap=True)
    for column in (*SIGNALS, *(f"{c} spans" for c in CATEGORIES), "verdict"):
        table.add_column(column)
    for name, row in services.items():
        signals, spans = row.get("signals") or {}, row.get("spans") or {}
        verdict = row.get("verdict") or {}
        table.add_row(
            name,
            *(_count(signals.get(s)) for s in SIGNALS),
            *(_count(spans.get(c)) for c in CATEGORIES),
            f"{verdict.get('state', '?')}: {verdict.get('text', '')}",
        )
    console.print(table)
    dropped = {k: v for k, v in (view.get("overflowed") or {}).items() if v}
    if dropped:
        console.print(f"services past the limit of {view.get('limit')}: counted only {dropped}")
