"""Right-sizing like the Kubernetes VPA recommender.

From usage samples over ``history_days``, in the series' own unit (a utilization, cores or
bytes; the processor scales utilization to cores or bytes when the capacity is known):

    target = q_target(usage) · (1 + margin)                                  (p90 + 15 %)
    lower  = q_lower(usage)  · (1 + margin) · (1 + 0.001 / history_days)^−2   (p50)
    upper  = q_upper(usage)  · (1 + margin) · (1 + 1 / history_days)^+1       (p95)

The confidence multipliers are the VPA recommender's (``WithConfidenceMultiplier(0.001, −2)``
on the lower bound and ``(1.0, +1)`` on the upper one): with one day of history the upper
bound doubles, with a week it is ×1.14, so a short history is not used to take resources
away. A request above ``upper`` is over-provisioned, one below ``lower`` (or a target above
the limit) under-provisioned.

>>> usage = [1.0] * 80 + [2.0] * 20
>>> r = recommend(usage, history_days=1.0, request=4.0)  # a day: the upper bound doubles
>>> round(r.target, 3), round(r.upper, 3), r.status
(2.3, 4.6, 'ok')
>>> recommend(usage, history_days=7.0, request=4.0).status  # a week: ×1.14, 4 is too much
'over'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

MARGIN = 0.15


@dataclass(frozen=True)
class Recommendation:
    """Recommended request with its bounds, and how the current request compares."""

    target: float
    lower: float
    upper: float
    history_days: float
    samples: int
    request: float | None
    limit: float | None
    status: str  # over | under | ok | unknown (no request to compare)

    def scaled(self, factor: float) -> Recommendation:
        """The same recommendation with every amount times ``factor`` (utilization → cores or
        bytes of a known capacity); the status does not change, quantiles scale linearly."""

        def times(value: float | None) -> float | None:
            return None if value is None else value * factor

        return Recommendation(
            self.target * factor,
            self.lower * factor,
            self.upper * factor,
            self.history_days,
            self.samples,
            times(self.request),
            times(self.limit),
            self.status,
        )

    @property
    def excess(self) -> float:
        """How much the request is above the target (0 when it is not over-provisioned)."""
        if self.request is None or self.status != "over":
            return 0.0
        return max(0.0, self.request - self.target)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "lower": self.lower,
            "upper": self.upper,
            "history_days": self.history_days,
            "samples": self.samples,
            "request": self.request,
            "limit": self.limit,
            "status": self.status,
            "excess": self.excess,
        }


def confidence_multiplier(multiplier: float, exponent: float, history_days: float) -> float:
    """VPA's ``(1 + multiplier / history_days) ** exponent``; no history gives inf or 0."""
    if history_days <= 0:
        return float("inf") if exponent > 0 else 0.0
    return float((1.0 + multiplier / history_days) ** exponent)


def recommend(
    samples: Any,
    history_days: float,
    *,
    margin: float = MARGIN,
    target_q: float = 0.9,
    lower_q: float = 0.5,
    upper_q: float = 0.95,
    request: float | None = None,
    limit: float | None = None,
) -> Recommendation:
    """The recommendation for ``samples`` (NaNs ignored; input not mutated).

    Raises:
        ValueError: when there is no finite sample.
    """
    x = np.asarray(samples, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        raise ValueError("need at least one finite usage sample")
    lo, mid, hi = np.quantile(x, [lower_q, target_q, upper_q])
    scale = 1.0 + margin
    target = float(mid) * scale
    lower = float(lo) * scale * confidence_multiplier(0.001, -2.0, history_days)
    upper = float(hi) * scale * confidence_multiplier(1.0, 1.0, history_days)
    return Recommendation(
        target,
        lower,
        upper,
        history_days,
        int(x.size),
        request,
        limit,
        status(request, limit, target, lower, upper),
    )


def status(
    request: float | None, limit: float | None, target: float, lower: float, upper: float
) -> str:
    """over, under, ok, or unknown when there is no request to compare."""
    if limit is not None and target > limit:
        return "under"
    if request is None:
        return "unknown"
    if request > upper:
        return "over"
    if request < lower:
        return "under"
    return "ok"


__all__ = ["Recommendation", "confidence_multiplier", "recommend", "status"]
