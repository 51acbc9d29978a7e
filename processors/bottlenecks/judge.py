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
finding already open is held to every bar times ``hysteresis``, so it resolves below a
lower bar than the one that opened it.
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

    def bar(self, kind: Kind, service: str, subject: str) -> float:
        """1, or ``hysteresis`` for a finding that is open (it stays open down to there)."""
        held = (kind.value, service, subject[:MAX_SUBJECT]) in self.held
        return self.config.hysteresis if held else 1.0

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
