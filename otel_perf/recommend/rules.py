"""What a recommendation rule is and the builders rules share.

A rule turns one finding into one recommendation (an :class:`Item`) or None. Each
component contributes its rules through its factory's surface (``Surface.recommendations``,
a table: finding kind → rule; see ``processors/<name>/recommend.py``). A rule reads the
finding's attributes and, for counts and SLO figures, the inputs' periods and processor
snapshots; it never ranks, filters or reads the clock. Ranking, grouping and the points
scale live in ``otel_perf.recommend.ranking``, which imports this module (never the other
way round).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from otel_perf.findings import Finding, Severity

Snapshots = Mapping[str, Mapping[str, Mapping[str, Any]]]
"""Processor snapshots by processor type, then component id (``Pipeline.snapshot``)."""
ProcessorSnapshots = Mapping[str, Mapping[str, Any]]
"""One processor type's snapshots, by component id."""


class Context(Protocol):
    """What a rule reads besides the finding (``recommendations.Inputs`` is one)."""

    @property
    def snapshots(self) -> Snapshots: ...

    def period_s(self, source: str) -> float:
        """The period, in seconds, that counts in a finding from ``source`` cover."""
        ...


@dataclass(frozen=True)
class Item:
    """One recommendation before ranking."""

    action: str
    category: str
    finding: Finding
    impact_kind: str
    impact_value: float
    impact_text: str
    figures: dict[str, Any] = field(default_factory=dict)
    severity: Severity | None = None  # defaults to the finding's
    group: str = ""  # items of one group appear once (an objective's alerts); default: key
    notes: tuple[str, ...] = ()  # why it ranks where it does, beyond its impact

    @property
    def group_key(self) -> str:
        return self.group or self.finding.key

    @property
    def rank_severity(self) -> Severity:
        return self.severity or self.finding.severity


Rule = Callable[[Finding, Context], "Item | None"]


def per_min(count: float, f: Finding, inputs: Context) -> float:
    """A count over the finding's source's period, per minute."""
    return count * 60.0 / inputs.period_s(f.source)


def figures_of(f: Finding, *names: str) -> dict[str, Any]:
    """The finding's attributes called ``names`` (those it has), for an item's evidence."""
    return {n: f.attributes[n] for n in names if n in f.attributes}


def first_rule(
    tests: tuple[tuple[Callable[[Mapping[str, Any]], bool], Rule], ...],
) -> Rule:
    """One rule out of several, each with the test of the finding's attributes that picks
    it: the first whose test passes applies (none: no item). For ``recommendation``
    findings, whose attributes say which advice they carry."""

    def rule(f: Finding, inputs: Context) -> Item | None:
        a = f.attributes
        return next((rule(f, inputs) for test, rule in tests if test(a)), None)

    return rule


def held_in(key: str) -> Callable[[ProcessorSnapshots], list[Finding]]:
    """For ``Surface.held_findings``: the findings each snapshot lists under ``key`` (a
    processor that keeps its current findings in its snapshot rather than storing each
    change)."""

    def held(snapshots: ProcessorSnapshots) -> list[Finding]:
        return [
            Finding.model_validate(body)
            for snapshot in snapshots.values()
            for body in snapshot.get(key, [])
        ]

    return held
