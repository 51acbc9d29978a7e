"""What a version comparison compares, so that a change of load is not a release's fault.

Comparing the old version's last samples with the new version's first ones is a before/after
comparison: if the machine got busier in between, every route looks slower in the new version
(a real app once got a false version verdict on an unchanged route that way). Two remedies,
in order of preference:

* **canary** — when both versions served during a common interval (a canary, a rolling
  deploy), only the samples of each version inside that interval are compared: both saw the
  same load. The interval is ``[max(first old, first new), min(last old, last new)]`` over the
  samples kept, and each side needs ``min_samples`` in it. A canary is judged once the new
  version's window is full, never early: the sequential test reads samples in arrival order,
  and under changing load that order favours one side.
* **control** — otherwise, the other routes of the same service compared over the same version
  change are the control (difference in differences): their drift is the median over them of
  ``ln(median new / median old)``, and the route's new samples are divided by
  ``exp(drift)`` before the verdict. A global slowdown then moves the control as much as the
  route, and only what the route moved beyond it can be a regression. A change common to every
  route (a middleware added, a runtime upgraded) looks the same as load, so the verdict says
  "environment changed" with the drift rather than blaming each route. Needs
  ``MIN_CONTROL_ROUTES`` routes with ``min_samples`` old and ``MIN_CONTROL_NEW`` new samples;
  the control is the service's entry routes, never its statements (a statement's shift follows
  how it is called: a fixed N+1 makes its one remaining query slower). The control only clears
  a verdict the plain comparison would give (load explained it), it never makes one the plain
  comparison does not (``clear_only``): the median of a few routes is itself noisy, and a real
  app's unchanged route was once called an "improvement" relative to it.
* **before/after** — neither: the plain comparison, and the verdict says it had no control.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from otel_perf.processors.regression.stats import Outcome, Verdict

Kind = Literal["canary", "control", "before_after"]
MIN_CONTROL_ROUTES = 3  # the median of three ignores one route that did change
MIN_CONTROL_NEW = 10


@dataclass(frozen=True)
class Basis:
    """The samples a verdict compares, and why those."""

    kind: Kind
    old: list[float]
    new: list[float]
    drift: float = 0.0  # the control routes' relative drift taken out of ``new`` (control only)
    routes: int = 0  # control routes

    def note(self) -> str:
        """The sentence the verdict's reason ends with."""
        if self.kind == "canary":
            return f"both versions ran at once: compared on {len(self.new)} overlapping samples"
        if self.kind == "control":
            return (
                f"environment changed by {self.drift:+.1%} between the versions (median of "
                f"{self.routes} other routes of the service); judged relative to it"
            )
        return "before/after comparison without a control: a change of load in between looks alike"


def overlap(
    old: Sequence[float],
    old_ns: Sequence[int],
    new: Sequence[float],
    new_ns: Sequence[int],
    min_samples: int,
) -> Basis | None:
    """The canary basis: each side's samples in the interval both versions ran, or None."""
    if not old_ns or not new_ns or len(old_ns) != len(old) or len(new_ns) != len(new):
        return None
    low, high = max(min(old_ns), min(new_ns)), min(max(old_ns), max(new_ns))
    a = [v for v, t in zip(old, old_ns, strict=True) if low <= t <= high]
    b = [v for v, t in zip(new, new_ns, strict=True) if low <= t <= high]
    if min(len(a), len(b)) < min_samples:
        return None
    return Basis("canary", a, b)


def ran_together(old_ns: Sequence[int], new_ns: Sequence[int]) -> bool:
    """The old version kept serving after the new one started (``MIN_CONTROL_NEW`` samples
    or more — a few stragglers are not a canary): an overlap is coming."""
    if not old_ns or not new_ns:
        return False
    start = min(new_ns)
    return sum(t > start for t in old_ns) >= MIN_CONTROL_NEW


def log_shift(old: Sequence[float], new: Sequence[float]) -> float:
    """``ln(median new / median old)`` over the positive values; NaN without them."""
    a, b = _positive(old), _positive(new)
    if not a.size or not b.size:
        return math.nan
    return float(np.log(np.median(b)) - np.log(np.median(a)))


def route_shifts(
    pairs: Mapping[str, tuple[Sequence[float], Sequence[float]]], min_samples: int
) -> dict[str, float]:
    """``log_shift`` of each route's ``(old, new)`` samples, for those with ``min_samples``
    old and ``MIN_CONTROL_NEW`` new ones."""
    shifts = {
        route: log_shift(old, new)
        for route, (old, new) in pairs.items()
        if len(old) >= min_samples and len(new) >= MIN_CONTROL_NEW
    }
    return {route: shift for route, shift in shifts.items() if math.isfinite(shift)}


def control_drift(shifts: Mapping[str, float], route: str) -> tuple[float, int] | None:
    """The median of the other routes' shifts and their count; None with fewer than
    ``MIN_CONTROL_ROUTES`` of them."""
    others = [shift for other, shift in shifts.items() if other != route]
    if len(others) < MIN_CONTROL_ROUTES:
        return None
    return float(np.median(others)), len(others)


def controlled(old: Sequence[float], new: Sequence[float], drift: float, routes: int) -> Basis:
    """The control basis: ``new`` divided by ``exp(drift)``."""
    scale = math.exp(-drift)
    return Basis("control", list(old), [v * scale for v in new], math.expm1(drift), routes)


def clear_only(controlled: Verdict, raw: Verdict) -> Verdict:
    """The controlled verdict where it agrees with the plain one (both a regression, both an
    improvement, or the control clearing it to a pass); a pass where the control alone would
    call a change."""
    if controlled.outcome in ("pass", raw.outcome):
        return controlled
    outcome: Outcome = "inconclusive" if raw.outcome == "inconclusive" else "pass"
    reason = (
        f"{controlled.reason}; the plain comparison says {raw.outcome}, and the control alone "
        f"does not decide a change: {outcome}"
    )
    return dataclasses.replace(controlled, outcome=outcome, reason=reason)


def _positive(values: Sequence[float]) -> np.ndarray[tuple[int], np.dtype[np.float64]]:
    array = np.asarray(values, dtype=np.float64)
    return array[np.isfinite(array) & (array > 0)]
