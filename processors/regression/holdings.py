"""What the regression processor holds, shared by the processor and its service.

The processor (``processor.py``) fills it from the pipeline's thread; the service
(``analysis.py``) reads it and adds named baselines and runs from the API's threads. Both
take the one lock every entry point holds.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from otel_perf.findings import Finding
from otel_perf.processors.regression.baselines import Baseline, Reservoir
from otel_perf.processors.regression.changes import ChangeTracker
from otel_perf.processors.regression.config import RegressionConfig
from otel_perf.processors.regression.runs import RunHistory
from otel_perf.processors.regression.statements import StatementIntervals
from otel_perf.processors.regression.usage import VersionUsage
from otel_perf.processors.regression.versions import VersionTracker

KEPT_EVENTS = 200


@dataclass
class Holdings:
    """Baselines, runs, version samples, change trackers and what is waiting to be said."""

    lock: threading.RLock
    baselines: dict[str, Baseline]
    runs: RunHistory
    versions: VersionTracker
    changes: ChangeTracker
    statements: StatementIntervals
    version_usage: VersionUsage
    collecting: dict[str, tuple[Reservoir, int]] = field(default_factory=dict)  # auto baselines
    comparisons: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=KEPT_EVENTS))
    change_points: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=KEPT_EVENTS))
    current_p95: dict[str, float] = field(default_factory=dict)
    pending: list[Finding] = field(default_factory=list)
    dirty: set[str] = field(default_factory=set)
    untracked: int = 0  # automatic baselines not made because max_series were full
    last_ns: int = 0

    @classmethod
    def new(cls, config: RegressionConfig) -> Holdings:
        return cls(
            threading.RLock(),
            {},
            RunHistory(config.max_runs),
            VersionTracker(config.version_window, config.max_series),
            ChangeTracker(
                config.changepoint_window, config.changepoint_min_size, config.max_series
            ),
            StatementIntervals(config.max_series, config.reservoir_size),
            VersionUsage(config.max_series),
        )
