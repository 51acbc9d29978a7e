"""Cache advice and cacheable candidates as ``recommendation`` findings."""

from __future__ import annotations

from otel_perf.findings import Finding, Kind, Severity
from otel_perf.processors.cache.analysis import Candidate, TTLAdvice

SUGGESTED_CACHE = "db"  # cached_query's default cache name


def ttl_finding(
    advice: TTLAdvice, service: str, cache: str, prefix: str, now_ns: int, source: str
) -> Finding:
    """A TTL-too-short or TTL-too-long recommendation for one prefix of one cache."""
    where = f"cache {cache} prefix {prefix or '(none)'}"
    current = "unknown" if advice.current_ttl_s is None else f"{advice.current_ttl_s:g} s"
    if advice.kind == "ttl_too_short":
        summary = (
            f"{where}: {advice.share:.0%} of misses re-fetch a key right after it expired "
            f"(TTL {current}); raise the TTL to {advice.suggested_ttl_s:g} s, saving "
            f"~{advice.estimated_saving_ms_per_min:.0f} ms of loads per minute"
        )
    else:
        summary = (
            f"{where}: {advice.share:.0%} of invalidated entries were never read "
            f"(TTL {current}); lower the TTL to {advice.suggested_ttl_s:g} s, freeing "
            f"~{advice.estimated_saving_bytes:.0f} bytes per minute of unread entries"
        )
    return Finding(
        kind=Kind.RECOMMENDATION,
        severity=Severity.INFO,
        service=service,
        subject=f"{where}: {advice.kind}",
        time_ns=now_ns,
        summary=summary,
        attributes={
            "recommendation": advice.kind,
            "cache.name": cache,
            "cache.key_prefix": prefix,
            "current_ttl_s": advice.current_ttl_s,
            "suggested_ttl_s": advice.suggested_ttl_s,
            "estimated_saving_ms_per_min": round(advice.estimated_saving_ms_per_min, 3),
            "estimated_saving_bytes_per_min": round(advice.estimated_saving_bytes, 1),
            "share": round(advice.share, 4),
            "events": advice.events,
            "total": advice.total,
        },
        evidence={"trace_ids": list(advice.trace_ids)},
        source=source,
    )


def candidate_finding(
    candidate: Candidate,
    service: str,
    fingerprint: str,
    fingerprint_id: str,
    db_system: str,
    table: str,
    now_ns: int,
    source: str,
) -> Finding:
    """A recommendation to cache one query fingerprint."""
    summary = (
        f"{db_system} query repeated {candidate.max_repeats}× with the same text "
        f"({candidate.calls} calls, {candidate.distinct} distinct, "
        f"{candidate.db_ms_per_min:.0f} ms/min): cache it for {candidate.suggested_ttl_s:g} s, "
        f"expected hit ratio {candidate.expected_hit_ratio:.0%}, saving "
        f"~{candidate.estimated_saving_ms_per_min:.0f} ms per minute — {fingerprint[:120]}"
    )
    return Finding(
        kind=Kind.RECOMMENDATION,
        severity=Severity.INFO,
        service=service,
        subject=f"query {fingerprint_id}: cacheable",
        time_ns=now_ns,
        summary=summary,
        attributes={
            "recommendation": "cacheable_query",
            "cache.name": SUGGESTED_CACHE,
            "cache.key_prefix": table,
            "db.system": db_system,
            "fingerprint": fingerprint[:500],
            "fingerprint_id": fingerprint_id,
            "calls": candidate.calls,
            "distinct": candidate.distinct,
            "max_repeats": candidate.max_repeats,
            "expected_hit_ratio": round(candidate.expected_hit_ratio, 4),
            "mean_ms": round(candidate.mean_ms, 3),
            "db_ms_per_min": round(candidate.db_ms_per_min, 3),
            "suggested_ttl_s": candidate.suggested_ttl_s,
            "estimated_saving_ms_per_min": round(candidate.estimated_saving_ms_per_min, 3),
        },
        evidence={"trace_ids": list(candidate.trace_ids)},
        source=source,
    )
