"""The CLI's side of the cache processor: tables of stats, recommendations and the apps'
answers to invalidate and warm-up."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table


def _num(value: Any, fmt: str = ".4g") -> str:
    return "-" if value is None else format(value, fmt)


def _ratio(value: Any) -> str:
    return "-" if value is None else f"{value:.1%}"


def _levels(values: dict[str, float]) -> str:
    return ", ".join(f"{level} {value:g}" for level, value in values.items()) or "-"


def print_report(console: Console, data: dict[str, Any]) -> None:
    """``otel-perf cache``: whichever of ``stats`` and ``optimizations`` ``data`` holds."""
    if "stats" in data:
        print_stats(console, data["stats"])
    if "optimizations" in data:
        print_optimizations(console, data["optimizations"])


def print_stats(console: Console, data: dict[str, Any]) -> None:
    caches = Table(
        "service",
        "cache",
        "hit ratio",
        "hits",
        "misses",
        "saved ms",
        "load ms",
        "entries",
        "bytes",
        "evictions",
        "from",
        title="caches",
    )
    prefixes = Table(
        "service",
        "cache",
        "prefix",
        "hit ratio",
        "hits",
        "misses",
        "TTL s",
        "misses by reason",
        title="key prefixes",
    )
    for c in data["caches"]:
        caches.add_row(
            c["service"],
            c["cache"],
            _ratio(c["hit_ratio"]),
            _num(c["hits"]),
            _num(c["misses"]),
            _num(c["saved_ms"]),
            _num(c["load_ms"]),
            _levels(c["entries"]),
            _levels(c["size_bytes"]),
            _levels(c["evictions"]),
            c["source"],
        )
        for p in c["prefixes"][:20]:
            reasons = ", ".join(f"{k} {v}" for k, v in p["misses_by_reason"].items()) or "-"
            prefixes.add_row(
                c["service"],
                c["cache"],
                p["prefix"] or "(none)",
                _ratio(p["hit_ratio"]),
                str(p["hits"]),
                str(p["misses"]),
                _num(p["ttl_s"]),
                reasons,
            )
    console.print(caches)
    console.print(prefixes)
    untracked = {k: v for k, v in data.get("untracked", {}).items() if v}
    if untracked:
        console.print(f"[yellow]not tracked (limits reached):[/yellow] {json.dumps(untracked)}")


def print_optimizations(console: Console, data: dict[str, Any]) -> None:
    table = Table(
        "service",
        "advice",
        "cache / prefix",
        "TTL now s",
        "suggested TTL s",
        "saving ms/min",
        "summary",
        title="cache recommendations",
    )
    for r in data["recommendations"]:
        a = r["attributes"]
        where = f"{a['cache.name']} / {a['cache.key_prefix'] or '-'}"
        table.add_row(
            r["service"],
            a["recommendation"],
            where,
            _num(a.get("current_ttl_s")),
            _num(a["suggested_ttl_s"]),
            _num(a["estimated_saving_ms_per_min"], ".0f"),
            r["summary"],
        )
    console.print(table)


def print_control(console: Console, data: dict[str, Any]) -> None:
    """The apps' answers to a forwarded invalidate or warm-up."""
    table = Table("app", "status", "answer", title="apps")
    for name, reply in data["apps"].items():
        status = "unreachable" if reply["status"] is None else str(reply["status"])
        answer = reply.get("error") or json.dumps(reply.get("body"), sort_keys=True)
        table.add_row(name, status, answer)
    console.print(table)
