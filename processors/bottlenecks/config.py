"""Settings of the ``bottlenecks`` processor."""

from __future__ import annotations

from pydantic import Field

from otel_perf.components import ComponentConfig
from otel_perf.config.types import Duration


class BottlenecksConfig(ComponentConfig):
    """``processors.bottlenecks``: trace assembly, critical path, slow queries, N+1.

    Attributes:
        sample_ratio: share of traces analysed, chosen by trace id (the same traces
            on every instance, as the Collector's probabilistic sampler does); per-trace
            analysis costs far more than span metrics, so this trades detail for
            throughput. Counts in findings then describe the sample.
        trace_quiet_time: a trace is analysed once no span of it ended for this long.
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
        max_operations / max_fingerprints / max_routes: bounds on the aggregate maps.
        exemplars: trace ids kept per item as evidence.
    """

    sample_ratio: float = Field(default=1.0, gt=0, le=1)
    trace_quiet_time: Duration = 10.0
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
    max_operations: int = Field(default=10_000, gt=0)
    max_fingerprints: int = Field(default=5_000, gt=0)
    max_routes: int = Field(default=1_000, gt=0)
    exemplars: int = Field(default=3, gt=0, le=20)
