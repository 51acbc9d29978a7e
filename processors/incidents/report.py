"""Rendering of incidents for ``otel-perf incidents`` (one line each, ``--explain`` chain)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape


def _when(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def line(incident: dict[str, Any]) -> str:
    """``ID [severity] since START: TITLE — why: …; do: ACTION``."""
    cause = incident["probable_cause"]
    reasons = "; ".join(cause["reasoning"]["reasons"])
    state = "" if incident["state"] == "open" else f" ({incident['state']})"
    return (
        f"{incident['id']} [{incident['severity']}]{state} since {_when(incident['start_ns'])}: "
        f"{incident['title']} — why: {reasons} — do: {incident['action']}"
    )


def print_incidents(console: Console, data: dict[str, Any]) -> None:
    """Open incidents, then recent ones, one line each."""
    if not data["open"] and not data["recent"]:
        console.print("no incidents: nothing open, nothing resolved recently")
        return
    for incident in (*data["open"], *data["recent"]):
        console.print(escape(line(incident)), soft_wrap=True)
    if data.get("overflowed"):
        console.print(f"{data['overflowed']} groups left out past max_open")


def print_explain(console: Console, incident: dict[str, Any]) -> None:
    """The incident's line, then the probable cause, what it explains and every member."""
    console.print(escape(line(incident)), soft_wrap=True)
    cause = incident["probable_cause"]
    reasoning = cause["reasoning"]
    console.print(escape(f"probable cause: {cause['kind']} {cause['service']} {cause['subject']}"))
    console.print(escape(f"  {cause['summary']}"), soft_wrap=True)
    first = reasoning["first_signal"]
    console.print(
        escape(
            f"  first signal: {first['kind']} on {first['service']} at {_when(first['start_ns'])}"
        )
    )
    if reasoning.get("release"):
        console.print(
            escape(f"  release: {reasoning['release']['old']} -> {reasoning['release']['new']}")
        )
    explained = set(reasoning["explains"])
    impact = incident["impact"]
    left = impact["error_budget_remaining"]
    console.print(
        escape(
            f"impact: {impact['slow_requests'] or 0} slow requests, error budget left "
            f"{'-' if left is None else f'{left:.1%}'}, "
            f"routes {', '.join(impact['routes']) or '-'}"
        ),
        soft_wrap=True,
    )
    console.print("members:")
    for m in incident["members"]:
        mark = (
            "cause"
            if m["key"] == cause["key"]
            else "explained"
            if m["key"] in explained
            else "same"
        )
        console.print(
            escape(f"  {_when(m['start_ns'])} {mark:9} {m['kind']} {m['service']} {m['subject']}"),
            soft_wrap=True,
        )
