"""The cache processor's recommendation rules (contributed through its surface): cache a
query or raise a TTL (time saved), lower a TTL (memory freed)."""

from __future__ import annotations

from otel_perf.findings import Finding, Kind
from otel_perf.recommend.rules import Context, Item, Rule, figures_of, first_rule, held_in


def _ttl_action(f: Finding, verb: str) -> str:
    """Raise or lower a cache prefix's TTL to the suggested one."""
    a = f.attributes
    return (
        f"{verb} the TTL of cache {a['cache.name']} prefix {a['cache.key_prefix'] or '(none)'}"
        f" in {f.service} to {a['suggested_ttl_s']:g} s"
    )


def cache_time(f: Finding, inputs: Context) -> Item:
    a = f.attributes
    saved = float(a["estimated_saving_ms_per_min"])
    if a["recommendation"] == "cacheable_query":
        action = (
            f"Cache the {a.get('db.system', 'db')} query in {f.service} for "
            f"{a['suggested_ttl_s']:g} s (cache {a['cache.name']}): {a['fingerprint'][:120]}"
        )
        names = ("calls", "max_repeats", "expected_hit_ratio", "db_ms_per_min")
    else:
        action = _ttl_action(f, "Raise")
        names = ("current_ttl_s", "share", "events", "total")
    return Item(
        action=action,
        category="caching",
        finding=f,
        impact_kind="latency_ms_per_min",
        impact_value=saved,
        impact_text=f"~{saved:.0f} ms of loads saved per minute",
        figures=figures_of(f, "suggested_ttl_s", *names),
    )


def cache_memory(f: Finding, inputs: Context) -> Item:
    freed = float(f.attributes["estimated_saving_bytes_per_min"])
    return Item(
        action=_ttl_action(f, "Lower"),
        category="caching",
        finding=f,
        impact_kind="bytes_per_min",
        impact_value=freed,
        impact_text=f"~{freed:.0f} bytes per minute of entries never read",
        figures=figures_of(f, "current_ttl_s", "suggested_ttl_s", "share", "events", "total"),
    )


RULES: dict[Kind, Rule] = {
    Kind.RECOMMENDATION: first_rule(
        (
            (lambda a: a.get("recommendation") in ("ttl_too_short", "cacheable_query"), cache_time),
            (lambda a: a.get("recommendation") == "ttl_too_long", cache_memory),
        )
    ),
}
"""The processor's ``recommendation`` findings, by the advice they carry."""

#: the processor keeps its current findings in its snapshot (``recommendations``)
HELD = held_in("recommendations")
