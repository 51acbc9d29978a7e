"""Per-route latency baselines, for suggested objectives that fit the route.

The zero-config latency thresholds (p50 50 ms, p95 150 ms, p99 200 ms) suit a typical API
route and nothing slower: a pricing route that has always taken 400 ms would burn their
budget from the first minute. With ``defaults.routes`` on, each entry route (SERVER and
CONSUMER span metrics, per service and operation) is watched for ``learn`` of event time
and at least ``min_requests`` requests; then its suggested latency objectives are fixed
once, per percentile::

    threshold = default                        if the route's observed percentile ≤ default
    threshold = nice_ceil(observed × headroom) otherwise

``nice_ceil`` rounds up to 1, 2, 2.5 or 5 × 10^k ms, so a person can read the threshold.
A route that met the defaults keeps them; a route slower by design starts from its own
baseline with room (``headroom``), and only a change from it burns the budget.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from otel_perf.histogram import ExponentialHistogram
from otel_perf.processors.slo.saved import LearnedRoutes

NICE_STEPS = (1.0, 2.0, 2.5, 5.0, 10.0)


def nice_ceil(seconds: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10^k ms at or above ``seconds`` (in seconds).

    >>> nice_ceil(0.412), nice_ceil(0.6), nice_ceil(0.0021), nice_ceil(3.0)
    (0.5, 1.0, 0.0025, 5.0)
    """
    ms = max(seconds * 1000.0, 1e-3)
    decade = 10.0 ** math.floor(math.log10(ms))
    for step in NICE_STEPS:
        if step * decade >= ms * (1 - 1e-12):
            return round(step * decade / 1000.0, 12)
    return round(10 * decade / 1000.0, 12)  # unreachable: 10 × decade > ms


def suggested_threshold(default_s: float, observed_s: float, headroom: float) -> float:
    """The default when the route meets it, else its observed percentile with headroom."""
    if observed_s <= default_s:
        return default_s
    return nice_ceil(observed_s * headroom)


@dataclass
class _Learning:
    first_ns: int
    histogram: ExponentialHistogram = field(default_factory=ExponentialHistogram)


@dataclass
class RouteBaselines:
    """Learns each route's latency percentiles once (bounded by ``max_routes``).

    Args:
        percentiles: label → quantile to learn (``{"p95": 0.95}``).
        learn_ns: event time a route is watched before its baseline is fixed.
        min_requests: requests a baseline needs; fewer and it keeps learning.
        max_routes: routes learning or learned at most; more are counted in ``dropped``.
    """

    percentiles: dict[str, float]
    learn_ns: int
    min_requests: int
    max_routes: int
    learning: dict[tuple[str, str], _Learning] = field(default_factory=dict)
    learned: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    dropped: int = 0

    def offer(
        self, route: tuple[str, str], durations: ExponentialHistogram, start_ns: int, end_ns: int
    ) -> dict[str, float] | None:
        """Add one interval of a route's durations; its percentiles once just learned."""
        if route in self.learned or durations.count == 0:
            return None
        state = self.learning.get(route)
        if state is None:
            if len(self.learning) + len(self.learned) >= self.max_routes:
                self.dropped += 1
                return None
            state = self.learning[route] = _Learning(start_ns)
        state.histogram.merge(durations)
        if end_ns - state.first_ns < self.learn_ns or state.histogram.count < self.min_requests:
            return None
        del self.learning[route]
        labels = list(self.percentiles)
        values = state.histogram.quantiles(self.percentiles[label] for label in labels)
        self.learned[route] = dict(zip(labels, values, strict=True))
        return self.learned[route]

    def saved(self) -> LearnedRoutes:
        """The learned baselines, as saved (learning restarts after a restart)."""
        return LearnedRoutes([(service, route, p) for (service, route), p in self.learned.items()])

    def resume(self, saved: LearnedRoutes) -> Iterable[tuple[tuple[str, str], dict[str, float]]]:
        """Take :meth:`saved` back (up to ``max_routes``); yields each baseline taken."""
        for service, route, values in saved.root:
            if len(self.learned) >= self.max_routes:
                return
            self.learned[(service, route)] = values
            yield (service, route), values
