"""The objective model every SLO part shares: what is measured, against what, over when.

Latency objectives are held as ratios (Sloth, Pyrra and OpenSLO do the same):
"p95 ≤ 150 ms" is "95 % of requests take ≤ 150 ms", good = requests at or under
the threshold, total = all requests. Throughput objectives are timeslice
objectives: a minute is good when its rate lies within [min_rps, max_rps].
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SLIKind(StrEnum):
    AVAILABILITY = "availability"
    LATENCY = "latency"
    THROUGHPUT = "throughput"
    RATIO = "ratio"  # OpenSLO ratioMetric over received metrics


class BudgetingMethod(StrEnum):
    OCCURRENCES = "Occurrences"
    TIMESLICES = "Timeslices"
    RATIO_TIMESLICES = "RatioTimeslices"


class AlertSeverity(StrEnum):
    PAGE = "page"
    TICKET = "ticket"


class BurnRateRule(BaseModel):
    """Alert when both windows burn at ``burn_rate`` or more (SRE Workbook, ch. 5)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    long_window_s: float = Field(gt=0)
    short_window_s: float = Field(gt=0)
    burn_rate: float = Field(gt=0)
    severity: AlertSeverity

    @model_validator(mode="after")
    def _short_is_shorter(self) -> BurnRateRule:
        if self.short_window_s >= self.long_window_s:
            raise ValueError("short_window must be shorter than long_window")
        return self


#: the Workbook's multiwindow, multi-burn-rate alerts for a 30-day SLO
DEFAULT_RULES: tuple[BurnRateRule, ...] = (
    BurnRateRule(
        long_window_s=3600, short_window_s=300, burn_rate=14.4, severity=AlertSeverity.PAGE
    ),
    BurnRateRule(
        long_window_s=21600, short_window_s=1800, burn_rate=6.0, severity=AlertSeverity.PAGE
    ),
    BurnRateRule(
        long_window_s=259200, short_window_s=21600, burn_rate=1.0, severity=AlertSeverity.TICKET
    ),
)


class TimeWindow(BaseModel):
    """Rolling (``duration_s``) or calendar (``calendar`` month/week in ``timezone``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    duration_s: float = Field(default=30 * 86400.0, gt=0)
    calendar: str | None = None  # "month" or "week"
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _calendar(self) -> TimeWindow:
        if self.calendar not in (None, "month", "week"):
            raise ValueError(f'calendar must be "month" or "week", got "{self.calendar}"')
        return self

    @property
    def is_rolling(self) -> bool:
        return self.calendar is None


class Objective(BaseModel):
    """One SLO on one service (optionally one operation).

    Attributes:
        name: unique, used in findings, metrics and the API.
        service: the service.name it applies to.
        operation: a span name / route to restrict to; None for the whole service.
        kind: what the SLI measures.
        target: the fraction of good events (or good timeslices) promised.
        threshold_s: latency objectives: the duration a good request stays within.
        min_rps / max_rps: throughput objectives: the good range of a minute's rate.
        latency_metric: latency objectives read from a received histogram (explicit
            or exponential, e.g. http.server.request.duration) instead of spans.
        good_metric / total_metric / bad_metric: ratio objectives over received
            metrics (counter names; two of the three).
        metric_attributes: only metric points carrying these attributes count.
        budgeting: Occurrences (events), Timeslices (good minutes) or RatioTimeslices.
        timeslice_target: Timeslices: the ratio a minute needs to count as good.
        window: the SLO window.
        rules: burn-rate alerts.
        min_events: a burn-rate window with fewer events than this cannot alert.
        suggested: a zero-config objective (``defaults``): tracked, shown and exported,
            but its alerts warn at most; only objectives a user declares page.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    service: str = Field(min_length=1)
    operation: str | None = None
    kind: SLIKind
    target: float = Field(gt=0, lt=1)
    threshold_s: float | None = Field(default=None, gt=0)
    min_rps: float | None = Field(default=None, ge=0)
    max_rps: float | None = Field(default=None, gt=0)
    latency_metric: str | None = None
    good_metric: str | None = None
    total_metric: str | None = None
    bad_metric: str | None = None
    metric_attributes: tuple[tuple[str, str], ...] = ()
    budgeting: BudgetingMethod = BudgetingMethod.OCCURRENCES
    timeslice_target: float | None = Field(default=None, gt=0, le=1)
    window: TimeWindow = TimeWindow()
    rules: tuple[BurnRateRule, ...] = DEFAULT_RULES
    min_events: int = Field(default=0, ge=0)
    description: str = ""
    suggested: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Objective:
        if self.kind == SLIKind.LATENCY and self.threshold_s is None:
            raise ValueError("a latency objective needs a threshold")
        if self.kind == SLIKind.THROUGHPUT and self.min_rps is None and self.max_rps is None:
            raise ValueError("a throughput objective needs min_rps, max_rps or both")
        if self.kind == SLIKind.RATIO:
            given = [m for m in (self.good_metric, self.bad_metric, self.total_metric) if m]
            if len(given) != 2:
                raise ValueError(
                    "a ratio objective needs two of good_metric, bad_metric, total_metric"
                )
        if self.budgeting != BudgetingMethod.OCCURRENCES and self.kind != SLIKind.THROUGHPUT:
            if self.budgeting == BudgetingMethod.TIMESLICES and self.timeslice_target is None:
                raise ValueError("Timeslices budgeting needs a timeslice_target")
        return self

    @property
    def error_budget(self) -> float:
        """The fraction of events (or timeslices) allowed to be bad."""
        return 1.0 - self.target
