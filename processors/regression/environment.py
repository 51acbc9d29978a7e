"""Is a change point the operation's, or its environment's? A change of machine load is not a
route's change point.

A host that gets busier (a noisy neighbour, a batch job, CPU contention from other processes)
makes every route of the service slower at once, by different factors (a CPU-bound route more
than one waiting on I/O); the change-point detector then declares a level change on each, with
no code changed. A real app's "GET /orders: p95 rose from 203 ms to 1.33e+03 ms" ranked first
that way before any release.

So a declared change of an entry operation is judged against the service's other entry
operations over the same interval, as version comparisons are (``drift.py``: the same log
shift of medians, the same median over at least ``drift.MIN_CONTROL_ROUTES`` others): each
series' p95 points before the change's interval (``time_low_s``; at most ``BEFORE_POINTS``)
against those from its end (``time_high_s``) on, ``ln(median after / median before)``.
A statement fingerprint is judged against the service's other statements the same way.

The change is the environment's (``explained``) when the others' median moved the same way
and the operation moved no further beyond it than the median itself: ``|own - median| <=
|median|`` in logs (for a rise: ``median <= own <= median²``; at least half of the
operation's shift is common to the service). Routes slowed 1.5-6x by load pass (6x beside a
median of 2.5x); a route that rose 3x while the others held (median near 0) and one that rose
6x while the others rose 2x (3x beyond them) do not, and stay findings that say how far
beyond the service they moved. The median of a few series is itself noisy, but noise around
zero cannot clear a change: it would need to be half the change's own size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from otel_perf.processors.regression import drift

BEFORE_POINTS = 30  # p95 points before the change each series contributes, at most
MIN_POINTS = 5  # on each side, as the detector's smallest segment

Pair = tuple[Sequence[float], Sequence[float]]  # (before, after) p95 points


@dataclass(frozen=True)
class Environment:
    """The operation's own log shift and the median of the service's others."""

    own: float
    median: float
    others: int

    @property
    def explained(self) -> bool:
        """The others moved the same way, and the operation not beyond it by more."""
        return self.own * self.median > 0 and abs(self.own - self.median) <= abs(self.median)

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment_change": math.expm1(self.median),
            "environment_series": self.others,
            "change_beyond_environment": math.expm1(self.own - self.median),
            "environment_explained": self.explained,
        }

    def note(self) -> str:
        """The sentence a change point's description ends with."""
        common = (
            f"the service's {self.others} other series moved {math.expm1(self.median):+.1%} "
            "(median) at the same time"
        )
        if self.explained:
            return f"{common}: a change of its environment (load, a shared dependency)"
        return f"{common}; this one {math.expm1(self.own - self.median):+.1%} beyond them"


def judge(own: Pair, others: Mapping[str, Pair]) -> Environment | None:
    """The operation's shift against the median of ``others``' (module docstring); None
    without ``MIN_POINTS`` on each side of its own or ``drift.MIN_CONTROL_ROUTES`` others."""
    if min(len(own[0]), len(own[1])) < MIN_POINTS:
        return None
    own_shift = drift.log_shift(*own)
    shifts = {
        name: drift.log_shift(before, after)
        for name, (before, after) in others.items()
        if min(len(before), len(after)) >= MIN_POINTS
    }
    shifts = {name: shift for name, shift in shifts.items() if math.isfinite(shift)}
    control = drift.control_drift(shifts, route="")  # only others are in ``shifts``
    if control is None or not math.isfinite(own_shift):
        return None
    return Environment(own_shift, *control)
