"""How a series is called around a change point: executions per trace, time per minute, rate.

A statement's p95 moves when its work changes (it got slower) and also when the way it is
called changes: a release that replaces an N+1 of 25 small ``… WHERE order_id = ?`` lookups
per request by one ``… WHERE order_id IN (…)`` keeps the fingerprint, and the one remaining
execution is larger than each of the 25 were. Its p95 rises while the database does less
work per request. Per closed interval the processor keeps each statement's executions, the
traces they came from and their summed time (:class:`Usage`); :func:`usage_around` compares
the intervals before a change (since the previous one) with those after it, and
:func:`call_change` says whether the change is one of how it is called:

* executions per trace changed by at least ``CALL_FACTOR`` (either way), or
* its total time per minute fell (``after < before``): whatever its p95 did, it costs the
  routes that run it less than before.

Version comparisons of a statement apply the same rule per request of each version
(:class:`VersionUsage`: the service's entry spans and the statement's executions and time
per version): executions per request changed by ``CALL_FACTOR``, or its time per request
fell.

Only series whose traces are counted are judged (statements); an entry operation is one call
per request, and a route that got slower while its traffic fell is still a regression.

Either way the change is reported as information, never as a regression of the query. A
statement that got slower at the same calls per trace, costing more per minute, is untouched.
``calls_per_s_after`` is the rate after the change, what a ranking should weigh the
shift with (the last minute of span metrics may still hold the old calling pattern).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from otel_perf.processors.regression.saved import SavedUsage

#: what a statement's version comparison adds to its finding
VERSION_USAGE_KEYS = (
    "executions_per_request_before",
    "executions_per_request_after",
    "time_ms_per_request_before",
    "time_ms_per_request_after",
    "call_change",
)
#: executions per trace changing by this factor (or its inverse) is a new way of calling
CALL_FACTOR = 3.0


@dataclass(frozen=True)
class Usage:
    """One closed interval of a series: executions, distinct traces, summed ms, length."""

    executions: int
    traces: int
    total_ms: float
    length_s: float


def _figures(usage: Sequence[Usage]) -> tuple[float, float, float]:
    """(executions per trace, time per minute in ms, executions per second) of ``usage``."""
    executions = sum(u.executions for u in usage)
    traces = sum(u.traces for u in usage)
    length_s = sum(u.length_s for u in usage)
    if not usage or length_s <= 0:
        return math.nan, math.nan, math.nan
    per_trace = executions / traces if traces else math.nan
    return per_trace, 60.0 * sum(u.total_ms for u in usage) / length_s, executions / length_s


def usage_around(before: Sequence[Usage], after: Sequence[Usage]) -> dict[str, float]:
    """The figures of the intervals before and after a change, named for a finding."""
    per_trace_0, per_min_0, rate_0 = _figures(before)
    per_trace_1, per_min_1, rate_1 = _figures(after)
    return {
        "executions_per_trace_before": per_trace_0,
        "executions_per_trace_after": per_trace_1,
        "time_ms_per_min_before": per_min_0,
        "time_ms_per_min_after": per_min_1,
        "calls_per_s_before": rate_0,
        "calls_per_s_after": rate_1,
    }


def call_change(figures: dict[str, float]) -> str | None:
    """Why a change is one of how the series is called (module docstring), or None."""
    return _reasons(
        (figures["executions_per_trace_before"], figures["executions_per_trace_after"]),
        (figures["time_ms_per_min_before"], figures["time_ms_per_min_after"]),
        "trace",
        "minute",
    )


def _reasons(
    per_unit: tuple[float, float], cost_ms: tuple[float, float], unit: str, cost_unit: str
) -> str | None:
    (calls_0, calls_1), (cost_0, cost_1) = per_unit, cost_ms
    if not (calls_0 > 0 and calls_1 > 0):
        return None  # nothing counted per trace (an entry operation is its own request)
    reasons = []
    if max(calls_0 / calls_1, calls_1 / calls_0) >= CALL_FACTOR:
        reasons.append(f"executions per {unit} {calls_0:.3g} -> {calls_1:.3g}")
    if cost_1 < cost_0:  # False for NaN: unknown is not a fall
        scale, unit_text = (1000, "s") if cost_unit == "minute" else (1, "ms")
        reasons.append(
            f"its time per {cost_unit} fell {cost_0 / scale:.3g} -> {cost_1 / scale:.3g} "
            + unit_text
        )
    return ", ".join(reasons) or None


class VersionUsage:
    """Requests per (service, version) and a statement's executions and summed ms per
    (service, version, statement); at most ``max_series`` of each, the rest counted."""

    def __init__(self, max_series: int) -> None:
        self.max_series = max_series
        self.requests: dict[tuple[str, str], int] = {}
        self.statements: dict[tuple[str, str, str], tuple[int, float]] = {}
        self.untracked = 0

    def request(self, service: str, version: str, n: int = 1) -> None:
        """``n`` entry spans of ``service`` at ``version``."""
        key = (service, version)
        if key in self.requests or len(self.requests) < self.max_series:
            self.requests[key] = self.requests.get(key, 0) + n
        else:
            self.untracked += n

    def execution(self, service: str, version: str, statement: str, value_ms: float) -> None:
        """One execution of ``statement`` by ``service`` at ``version``."""
        key = (service, version, statement)
        count, total = self.statements.get(key, (0, 0.0))
        if count or len(self.statements) < self.max_series:
            self.statements[key] = (count + 1, total + value_ms)
        else:
            self.untracked += 1

    def executions(
        self, service: str, version: str, statement: str, values_ms: NDArray[np.float64]
    ) -> None:
        """:meth:`execution` of each value in turn (summed in that order)."""
        key = (service, version, statement)
        count, total = self.statements.get(key, (0, 0.0))
        if not count:  # a new key, held from now on: its strings shared with other keys
            key = (sys.intern(service), sys.intern(version), sys.intern(statement))
        if count or len(self.statements) < self.max_series:
            summed = np.add.accumulate(np.concatenate(([total], values_ms)))[-1]
            self.statements[key] = (count + len(values_ms), float(summed))
        else:
            self.untracked += len(values_ms)

    def saved(self) -> SavedUsage:
        """The counts as saved (``resume`` reads them back)."""
        return SavedUsage(
            requests=[(*key, count) for key, count in self.requests.items()],
            statements=[(*key, *counts) for key, counts in self.statements.items()],
        )

    def resume(self, saved: SavedUsage) -> None:
        """Counts :meth:`saved` wrote (up to ``max_series`` of each)."""
        for service, version, count in saved.requests[: self.max_series]:
            self.requests[(service, version)] = count
        for service, version, statement, count, total in saved.statements[: self.max_series]:
            self.statements[(service, version, statement)] = (count, total)

    def call_change(self, service: str, statement: str, old: str, new: str) -> dict[str, Any]:
        """Executions and ms per request of each version; ``call_change`` when they say the
        statement is called differently (module docstring)."""
        figures: dict[str, Any] = {}
        for side, version in (("before", old), ("after", new)):
            requests = self.requests.get((service, version), 0)
            count, total = self.statements.get((service, version, statement), (0, 0.0))
            figures[f"executions_per_request_{side}"] = count / requests if requests else math.nan
            figures[f"time_ms_per_request_{side}"] = total / requests if requests else math.nan
        reason = _reasons(
            (figures["executions_per_request_before"], figures["executions_per_request_after"]),
            (figures["time_ms_per_request_before"], figures["time_ms_per_request_after"]),
            "request",
            "request",
        )
        if reason is not None:
            figures["call_change"] = reason
        return figures
