"""A closed window's critical-path sums, for the trace tier to export (``otlp_aggregates``).

Only what the ranking needs and what merges exactly across instances: integer sums per
(service, operation). The analysis tier adds them per window and ranks as
:func:`otel_perf.processors.bottlenecks.evaluate.ranking` does on one instance.
"""

from __future__ import annotations

from otel_perf.processors.bottlenecks.aggregate import Window
from otel_perf.series import CriticalPathInterval


def critical_path_interval(window: Window, length_ns: int, source: str) -> CriticalPathInterval:
    """The window's mergeable sums; ``[start, start + length)`` are its bounds."""
    operations = {
        key: (stats.critical_ns, stats.self_ns, stats.traces) for key, stats in window.ops.items()
    }
    return CriticalPathInterval(
        window.start_ns,
        window.start_ns + length_ns,
        window.traces,
        window.critical_total_ns,
        operations,
        source,
    )
