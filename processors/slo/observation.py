"""How long an objective has been watched without a gap: no burn-rate alert before its
windows are observed.

A burn rate over a window otel-perf did not watch is a guess: 55 requests in the first
8 seconds after start say nothing about an hour. The Workbook's rules assume both windows hold
data; Prometheus rules get that from ``for:`` and from series that exist for the whole range.
Here an objective's *observation* is the stretch of event time, without a gap longer than
``max_gap_ns``, in which it was evaluated or received events. A rule may fire only once the
observation covers at least its short window (and both windows hold ``min_events``).

``see(t_ns)`` is fed every evaluation time and, for each event count, the *end* of its minute
(counts have minute resolution, so this never credits time before the first event). A time
more than ``max_gap_ns`` after the newest one seen starts a new observation: otel-perf was
stopped (or nothing was evaluated) in between, so the windows reaching into the gap were
not watched. A time shortly before the start (late data, an evaluation before the first
event's minute ended) extends it backwards; one further back is ignored.

>>> o = Observation(max_gap_ns=120 * 10**9)
>>> o.see(10 * 10**9); o.see(70 * 10**9); o.observed_s(310 * 10**9)
300.0
>>> o.see(1000 * 10**9)  # back after a 930 s gap: a new observation
>>> o.observed_s(1010 * 10**9)
10.0
"""

from __future__ import annotations

from dataclasses import dataclass

NS = 1_000_000_000


@dataclass(slots=True)
class Observation:
    """The current gap-free stretch of event time one objective has been watched."""

    max_gap_ns: int
    since_ns: int | None = None
    last_ns: int | None = None

    def see(self, t_ns: int) -> None:
        """Note that the objective was watched (evaluated, or had events) at ``t_ns``."""
        if self.since_ns is None or self.last_ns is None or t_ns > self.last_ns + self.max_gap_ns:
            self.since_ns = self.last_ns = t_ns
            return
        if self.since_ns - self.max_gap_ns <= t_ns < self.since_ns:
            self.since_ns = t_ns
        self.last_ns = max(self.last_ns, t_ns)

    def observed_s(self, now_ns: int) -> float:
        """Seconds watched without a gap up to ``now_ns`` (0 before the first sight)."""
        if self.since_ns is None:
            return 0.0
        return max(0.0, (now_ns - self.since_ns) / NS)

    def resume(self, since_ns: int | None, last_ns: int | None) -> None:
        """Take a saved stretch back; an incomplete or reversed one (an older state) leaves
        it unobserved."""
        if since_ns is not None and last_ns is not None and since_ns <= last_ns:
            self.since_ns, self.last_ns = since_ns, last_ns
