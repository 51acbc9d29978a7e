"""Settings of the ``bottlenecks`` processor."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from otel_perf.component import ComponentConfig
from otel_perf.config.types import Duration


class BottlenecksConfig(ComponentConfig):
    """``processors.bottlenecks``: trace assembly, critical path, slow queries, N+1.

    Attributes:
        sample_ratio: share of traces analysed, chosen by trace id (the same traces
            on every instance, as the Collector's probabilistic sampler does); per-trace
            analysis costs far more than span metrics, so this trades detail for
            throughput. Counts in findings then describe the sample.
        trace_quiet_time: a trace is analysed once no new span of it arrived for this
            long (event time; see ``assembly.py``).
        max_trace_wait: a trace still receiving spans is analysed this long after its
            first span arrived.
        max_traces: traces held at once; past it the oldest is analysed as it is.
        max_spans_per_trace: spans kept per trace; the rest are counted.
        evaluation_interval: the tumbling window findings are evaluated over.
        min_traces: traces of an entry operation needed before naming its bottleneck.
        min_share: share of the critical path that makes an operation a bottleneck.
        slow_request_threshold: server spans slower than this are slow requests.
        slow_request_thresholds: per-service overrides of that threshold.
        slow_query_p95: a query fingerprint whose p95 reaches this is a slow query.
        slow_query_min_count: executions needed in a window before judging a query.
        n_plus_one_min_count / n_plus_one_min_total: the repeated-call rule.
        parallel_min_saveable: time consecutive independent calls must waste.
        quiet_period: an unchanged finding is announced again after this long.
        min_saveable: the absolute floor of every finding: what fixing it would save
            per request (critical-path ms of a bottleneck, excess ms of a slower query).
            50 ms is the floor of Sentry's N+1 detector.
        hot_route_share: entries serving less than this share of the traces are a small
            audience: their findings are info at most.
        regression_ratio: a figure at this multiple of its baseline has regressed.
        baseline_windows: windows an item needs before its baseline is trusted.
        bottleneck_without_baseline: before a baseline is known, a bottleneck is a
            warning only when it costs this much critical-path time per request.
        hysteresis: an open finding stays open until it falls below this fraction of
            the bars that opened it (no flapping around a threshold).
        critical_saveable / critical_p95_share / critical_traffic_share: a warning is
            critical when fixing it saves ``critical_saveable`` per request (500 ms:
            Sentry's slow-query bar, the default Apdex T), or ``critical_p95_share`` of
            its route's p95 when that p95 is past ``critical_saveable``, on routes
            serving ``critical_traffic_share`` of the traffic.
        impact_half_life: each finding's cost to users (ms per minute) is a mean over
            windows weighted by age, halving every this long (``impact.py``).
        max_operations / max_fingerprints / max_routes: bounds on the aggregate maps.
        exemplars: trace ids kept per item as evidence.
        save_interval: the windows being filled are written to the store at most this
            often (event time), and at shutdown (``saved.py``).
    """

    sample_ratio: float = Field(default=1.0, gt=0, le=1)
    trace_quiet_time: Duration = 10.0
    max_trace_wait: Duration = 300.0
    max_traces: int = Field(default=50_000, gt=0)
    max_spans_per_trace: int = Field(default=10_000, gt=0)
    evaluation_interval: Duration = 60.0
    min_traces: int = Field(default=10, gt=0)
    min_share: float = Field(default=0.3, gt=0, le=1)
    slow_request_threshold: Duration = 1.0
    slow_request_thresholds: dict[str, Duration] = {}
    slow_query_p95: Duration = 0.5
    slow_query_min_count: int = Field(default=5, gt=0)
    n_plus_one_min_count: int = Field(default=5, ge=2)
    n_plus_one_min_total: Duration = 0.05
    parallel_min_saveable: Duration = 0.1
    quiet_period: Duration = 3600.0
    min_saveable: Duration = 0.05
    hot_route_share: float = Field(default=0.05, ge=0, le=1)
    regression_ratio: float = Field(default=3.0, gt=1)
    baseline_windows: int = Field(default=3, gt=0)
    bottleneck_without_baseline: Duration = 0.5
    hysteresis: float = Field(default=0.7, gt=0, le=1)
    critical_saveable: Duration = 0.5
    critical_p95_share: float = Field(default=0.5, gt=0, le=1)
    critical_traffic_share: float = Field(default=0.2, ge=0, le=1)
    impact_half_life: Annotated[Duration, Field(gt=0)] = 300.0
    max_operations: int = Field(default=10_000, gt=0)
    max_fingerprints: int = Field(default=5_000, gt=0)
    max_routes: int = Field(default=1_000, gt=0)
    exemplars: int = Field(default=3, gt=0, le=20)
    save_interval: Duration = 60.0
