"""Whether something found is worth a human's attention, and how much.

Three questions decide a finding's severity (``grade``):

* **Floor**: does fixing it save at least ``min_saveable`` per request (and its
  kind's own floors)? Below, there is no finding at all.
* **Change**: against the item's own baseline (``baseline.py``) it has *regressed*
  (``regression_ratio`` × its normal and ``min_saveable`` above it), is *expected*
  (as it always was), or is *unknown* (no baseline yet).
* **Audience**: do the entries it slows serve at least ``hot_route_share`` of the
  traffic? Judged on the lower end of the share's 95 % Wilson interval, so a rare route
  that happened to get a few more requests in one window is still rare.

Expected → info. Regressed or structural waste (an N+1) on a hot route → warning.
Unknown → warning only on a hot route and past the kind's absolute bar, else info. A
warning becomes **critical** (``escalate``) when fixing it saves ``critical_saveable``
per request (500 ms: Sentry's slow-query bar, the default Apdex T of SkyWalking and most
APMs), or when the route that runs it most has a p95 past that bar and fixing it saves at
least ``critical_p95_share`` of it (users wait too long and this is most of why); either
on routes serving at least ``critical_traffic_share`` of the traffic (again the Wilson
lower end). A finding
already open is held to every bar times ``hysteresis`` (a critical one to the critical
bars too), so it resolves, or steps down, below a lower bar than the one that raised it.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass
from enum import StrEnum

from otel_perf.findings import Kind, Severity
from otel_perf.processors.bottlenecks.aggregate import OpKey, Window
from otel_perf.processors.bottlenecks.baseline import Baselines
from otel_perf.processors.bottlenecks.config import BottlenecksConfig

MAX_SUBJECT = 200
"""Finding subjects are cut to this many characters."""


class Change(StrEnum):
    """How an item compares with its own history."""

    REGRESSED = "regressed"
    EXPECTED = "expected"
    UNKNOWN = "unknown"
    STRUCTURAL = "structural"  # waste in the code's shape (N+1): history does not excuse it


@dataclass(frozen=True, slots=True)
class Judge:
    """The bars of one evaluation: config, baselines and the findings already open."""

    window: Window
    config: BottlenecksConfig
    baselines: Baselines
    held: Container[tuple[str, str, str]]  # (kind, service, subject) of findings open
    held_critical: Container[tuple[str, str, str]] = frozenset()  # those open as critical

    def bar(self, kind: Kind, service: str, subject: str) -> float:
        """1, or ``hysteresis`` for a finding that is open (it stays open down to there)."""
        held = (kind.value, service, subject[:MAX_SUBJECT]) in self.held
        return self.config.hysteresis if held else 1.0

    def escalate(
        self,
        severity: Severity,
        kind: Kind,
        service: str,
        subject: str,
        audience: tuple[int, int],
        saveable_s: float,
        routes: Mapping[OpKey, int],
    ) -> Severity:
        """``severity``, or critical for a warning that is big for most users (module doc).

        Args:
            saveable_s: what fixing it saves per request, in seconds.
            routes: the entries that run it (the busiest one's p95 is the budget).
        """
        if severity != Severity.WARNING:
            return severity
        config = self.config
        held = (kind.value, service, subject[:MAX_SUBJECT]) in self.held_critical
        bar = config.hysteresis if held else 1.0
        if share_low(*audience) < config.critical_traffic_share * bar:
            return severity
        p95 = self.route_p95(routes)
        big = saveable_s >= config.critical_saveable * bar
        slow_route = p95 >= config.critical_saveable * bar  # its users wait past Apdex T
        dominant = slow_route and saveable_s >= config.critical_p95_share * bar * p95
        return Severity.CRITICAL if big or dominant else severity

    def route_p95(self, routes: Mapping[OpKey, int]) -> float:
        """The p95 (s) of the entry in ``routes`` with the most runs; 0 when unknown."""
        if not routes:
            return 0.0
        top = max(routes.items(), key=lambda kv: (kv[1], kv[0]))[0]
        entry = self.window.entries.get(top)
        return entry.latency_s.quantile(0.95) if entry is not None and entry.traces else 0.0

    def audience(self, routes: Mapping[OpKey, int]) -> tuple[int, int]:
        """(traces whose entry is one of ``routes``, all traces) in the window."""
        entries = self.window.entries
        served = sum(entries[k].traces for k in routes if k in entries)
        return min(served, self.window.traces), self.window.traces

    def change(self, key: object, value: float, excess_floor: float, bar: float) -> Change:
        """``value`` (per request) against the baseline of ``key``."""
        normal = self.baselines.expected(key)
        if normal is None:
            return Change.UNKNOWN
        ratio = 1 + (self.config.regression_ratio - 1) * bar
        if value >= ratio * normal and value - normal >= excess_floor * bar:
            return Change.REGRESSED
        return Change.EXPECTED

    def grade(
        self, change: Change, audience: tuple[int, int], bar: float, absolute: bool
    ) -> Severity:
        """The severity of a finding that passed its floors.

        Args:
            change: against its history.
            audience: (requests it touches, all requests), as :meth:`audience` gives.
            bar: 1 or the hysteresis factor.
            absolute: past the kind's absolute bar (used when the history is unknown).
        """
        hot = share_low(*audience) >= self.config.hot_route_share * bar
        if not hot or change == Change.EXPECTED:
            return Severity.INFO
        if change == Change.UNKNOWN and not absolute:
            return Severity.INFO
        return Severity.WARNING


def traffic_share(served: int, total: int) -> float:
    """The share of traffic, for people."""
    return served / total if total else 0.0


def share_low(served: int, total: int) -> float:
    """The lower end of the 95 % Wilson interval of ``served / total`` (0 without traffic)."""
    if not total or not served:
        return 0.0
    from scipy.stats import binomtest  # first use: scipy is ~70 MB resident

    low = binomtest(served, total).proportion_ci(confidence_level=0.95, method="wilson").low
    return float(low)
