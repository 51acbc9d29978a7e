"""One ranked list of actions drawn from every processor's findings and state.

Each open finding a person can act on becomes one recommendation (the same finding key
once, its newest version): fix an N+1, index a slow query, run independent calls in
parallel, cache a query or change a TTL, raise capacity before a forecast crossing,
right-size a container, roll back a version that regressed an endpoint, investigate a
burning SLO or an open anomaly. Improvements and single slow requests are not actions.

Ranking rule: by ``score``, the estimated impact on users on one scale of points, highest
first; severity breaks ties (critical, warning, info), then the finding key (a stable
order). Severity does not come first: a critical finding about a rare staff-only export
must not bury the N+1 on the route most users hit.

=============================  ===============================================  ============
impact kind                    value                                            points
=============================  ===============================================  ============
``latency_ms_per_min``         time saved per minute of traffic (ms)            value
``critical_path_ms_per_min``   time on the critical path per minute (ms)        value / 10
``budget_burn``                error budget burn rate of a declared objective   1000 × value
``suggested_budget_burn``      burn rate of a suggested (zero-config) objective 10 × value
``relative_latency``           relative latency change (0.25 = 25 % slower)     1000 × value
``anomaly_score``              anomaly score, 0 to 1                            1000 × value
``days_to_threshold``          days until the forecast crosses a threshold      7000 / value
``cost_per_month``             money saved per 30 days (the configured currency) value
``request_shortfall``          recommended request / current request − 1        1000 × value
``bytes_per_min``              memory freed per minute (bytes)                  value / 1e6
=============================  ===============================================  ============

so 1 s saved per minute, a burn rate of 1 of a declared objective, a 100 % slowdown, a
capacity crossing in 7 days and 1,000 currency units a month weigh the same. Time per
minute grows with traffic, so an operation on a hot route's critical path outweighs the
same one on a route few requests take. A critical-path hotspot says where time goes, not
what a fix saves, so its time counts a tenth: the N+1 inside an endpoint ranks above the
endpoint's hotspot. A suggested objective is a default nobody agreed to: its burn counts a
hundredth of a declared one's (a 14.4× fast burn weighs 144 points, a full outage at 99.9 %
still 10,000), so suggested-SLO items do not crowd out bottleneck actions.

A bottlenecks finding's time per minute is its cost smoothed over evaluation windows (the
processor's ``impact``: a mean weighted by age, so the order follows what problems cost
users over minutes, not how many requests landed in the last window). A change point is
weighed in the same unit: its p95 shift × the calls per minute span metrics see — an entry
operation's requests (users' time), a statement fingerprint's executions (database time on
the routes that run it) — and only without traffic figures by its relative change.

Each item carries the ranking's reasons as data (``ranking``): the score, the rule that
turned the impact into points, the severity used as the tie-break and any notes.

The functions here are pure: they read snapshots and findings and never the clock. The
rules that turn each kind of finding into an action come from the components, each through
its factory's surface (``Surface.recommendations``, finding kind → rule; the built-in ones
in ``processors/<name>/recommend.py``); what a rule is and the builders rules share are in
``otel_perf.recommend.rules``; what counts as open in ``otel_perf.recommend.current``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from otel_perf.component import component_type, processor_types, surfaces
from otel_perf.findings import Finding, Kind, Severity
from otel_perf.recommend.current import current_findings
from otel_perf.recommend.rules import Item, Rule, Snapshots

log = logging.getLogger("otel_perf.recommend")

CATEGORIES = ("performance", "reliability", "capacity", "cost", "caching")
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
#: the period a finding's counts cover when its source's is unknown
DEFAULT_PERIOD_S = 60.0

POINTS: dict[str, Callable[[float], float]] = {
    "latency_ms_per_min": lambda v: v,
    "critical_path_ms_per_min": lambda v: v / 10,
    "budget_burn": lambda v: 1000 * v,
    "suggested_budget_burn": lambda v: 10 * v,
    "relative_latency": lambda v: 1000 * v,
    "anomaly_score": lambda v: 1000 * v,
    "days_to_threshold": lambda v: 7000 / max(v, 1 / 24),
    "cost_per_month": lambda v: v,
    "request_shortfall": lambda v: 1000 * v,
    "bytes_per_min": lambda v: v / 1e6,
}
#: how each impact kind becomes points, in words (the ``ranking.rule`` of an item)
POINT_RULES: dict[str, str] = {
    "latency_ms_per_min": "points = ms saved per minute",
    "critical_path_ms_per_min": "points = critical-path ms per minute / 10",
    "budget_burn": "points = 1000 × burn rate (declared objective)",
    "suggested_budget_burn": "points = 10 × burn rate (suggested objective)",
    "relative_latency": "points = 1000 × relative latency change",
    "anomaly_score": "points = 1000 × anomaly score",
    "days_to_threshold": "points = 7000 / days to the threshold",
    "cost_per_month": "points = money saved per month",
    "request_shortfall": "points = 1000 × request shortfall",
    "bytes_per_min": "points = bytes freed per minute / 1e6",
}


@dataclass(frozen=True)
class Inputs:
    """What recommendations are drawn from.

    Attributes:
        snapshots: processor snapshots by type and id.
        findings: recent stored findings, any order.
        periods_s: per source id, the period a finding's counts cover (the bottlenecks
            processor's ``evaluation_interval``, the capacity processor's
            ``forecast_window``), to turn counts into per-minute and per-month figures.
    """

    snapshots: Snapshots
    findings: Sequence[Finding]
    periods_s: Mapping[str, float] = field(default_factory=dict)

    def period_s(self, source: str) -> float:
        return self.periods_s.get(source, DEFAULT_PERIOD_S)


def periods_of(configs: Mapping[str, Any]) -> dict[str, float]:
    """Per processor id, the period its findings' counts cover: the value of the setting its
    type's surface names (``Surface.period_setting``), for ``Inputs.periods_s``."""
    types = processor_types()
    out: dict[str, float] = {}
    for pid, config in configs.items():
        factory = types.get(component_type(pid))
        setting = factory.surface.period_setting if factory is not None else ""
        period = getattr(config, setting, None) if setting else None
        if isinstance(period, int | float):
            out[pid] = float(period)
    return out


def check_query(service: str | None, category: str | None, limit: int) -> None:
    """Raise ValueError naming the bad parameter."""
    if category is not None and category not in CATEGORIES:
        known = ", ".join(CATEGORIES)
        raise ValueError(f'category: unknown category "{category}" (known: {known})')
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit: must be between 1 and {MAX_LIMIT}, got {limit}")
    if service is not None and not service:
        raise ValueError("service: must not be empty")


def recommend(
    inputs: Inputs,
    service: str | None = None,
    category: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[dict[str, Any]]:
    """The ranked recommendations (at most ``limit``), optionally of one service or category.

    Raises:
        ValueError: a bad ``category`` or ``limit``, with the parameter's name.
    """
    check_query(service, category, limit)
    items = [
        item
        for finding in current_findings(inputs.findings, inputs.snapshots)
        for item in _items(finding, inputs)
        if (not service or finding.service == service)
        and (not category or item.category == category)
    ]
    items.sort(key=rank_key)
    seen: set[str] = set()
    ranked = []
    for item in items:
        if item.group_key not in seen:
            seen.add(item.group_key)
            ranked.append(item)
    return [_to_dict(item, rank) for rank, item in enumerate(ranked[:limit], start=1)]


def rank_key(item: Item) -> tuple[float, int, str]:
    """Impact first, severity as the tie-break, then the finding key."""
    return (-_score(item), -item.rank_severity.rank, item.finding.key)


def impact_of(finding: Finding, inputs: Inputs) -> tuple[str, float] | None:
    """The impact kind and points of the finding's recommendation (None: no action)."""
    items = _items(finding, inputs)
    return (items[0].impact_kind, _score(items[0])) if items else None


#: an info performance item (what the bottlenecks processor judged expected: an operation as
#: slow as it always was, for the few who use it) weighs this much of its impact, so it
#: informs without outranking a finding that changed or hurts a hot route
INFO_WEIGHT = 0.1


def _score(item: Item) -> float:
    """The item's impact on the one scale of points (0 for a non-finite value)."""
    value = item.impact_value if math.isfinite(item.impact_value) else 0.0
    points = POINTS[item.impact_kind](value)
    if _expected(item):
        points *= INFO_WEIGHT
    return round(points, 3)


def _expected(item: Item) -> bool:
    return item.category == "performance" and item.rank_severity is Severity.INFO


def _severity_note(item: Item) -> list[str]:
    if _expected(item):
        return [f"info (expected, or not yet worth a person's time): weighs {INFO_WEIGHT:g}"]
    return []


def _to_dict(item: Item, rank: int) -> dict[str, Any]:
    f = item.finding
    return {
        "rank": rank,
        "action": item.action,
        "category": item.category,
        "severity": item.rank_severity.value,
        "service": f.service,
        "subject": f.subject,
        "score": _score(item),
        "impact": {
            "kind": item.impact_kind,
            "value": round(item.impact_value, 6),
            "text": item.impact_text,
        },
        "ranking": {
            "by": "impact",
            "score": _score(item),
            "impact_kind": item.impact_kind,
            "impact_value": round(item.impact_value, 6),
            "rule": POINT_RULES[item.impact_kind],
            "tie_break": {"severity": item.rank_severity.value},
            "notes": list(item.notes) + _severity_note(item),
        },
        "evidence": {
            "trace_ids": list(f.evidence.get("trace_ids") or []),
            "figures": item.figures,
        },
        "finding": {
            "key": f.key,
            "kind": f.kind.value,
            "source": f.source,
            "time_ns": f.time_ns,
            "severity": f.severity.value,
            "summary": f.summary,
        },
    }


# -- one finding's recommendations ------------------------------------------------------


def _rules(kind: Kind) -> list[Rule]:
    """The rules the components' surfaces contribute for ``kind``, in the factories' order."""
    return [s.recommendations[kind] for s in surfaces() if kind in s.recommendations]


def _items(f: Finding, inputs: Inputs) -> list[Item]:
    """The first item a rule for the finding's kind gives (none: no action)."""
    for rule in _rules(f.kind):
        try:
            item = rule(f, inputs)
        except (AttributeError, KeyError, TypeError, ValueError, ZeroDivisionError):
            # a finding stored by another version, without the attributes read here
            log.warning("finding %s (%s) has no usable attributes; skipped", f.key, f.kind.value)
            return []
        if item is not None:
            return [item]
    return []
