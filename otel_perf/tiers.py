"""The wire contract between the two tiers (see docs/scale-out.md, "Two tiers").

The trace tier (``exporters/aggregates``, type ``otlp_aggregates``) sends these OTLP
metrics, built directly with opentelemetry-proto so nothing is re-aggregated on the way;
the analysis tier (``processors/aggregates``) turns them back into series intervals.
Every data point carries ``otel_perf.tier.instance`` (which trace-tier instance sent it);
the resource is the series' service (``service.name``, and ``service.version`` when the
trace tier keys by it).
"""

from __future__ import annotations

CALLS = "traces.span.metrics.calls"  # Sum, delta, monotonic, by status.code
DURATION = "traces.span.metrics.duration"  # ExponentialHistogram, delta, seconds
WITHIN = "traces.span.metrics.calls.within"  # Sum, delta: calls with duration <= threshold
WATERMARK = "otel_perf.tier.watermark"  # Gauge (int ns): intervals ending <= it are closed
CRITICAL_PATH = "otel_perf.bottlenecks.critical_path.time"  # Sum, delta, ns, per operation
SELF_TIME = "otel_perf.bottlenecks.self_time"  # Sum, delta, ns, per operation
ON_PATH = "otel_perf.bottlenecks.traces"  # Sum, delta: traces with the operation on the path
WINDOW_TOTAL = "otel_perf.bottlenecks.critical_path.total"  # Sum, delta, ns, per window
WINDOW_TRACES = "otel_perf.bottlenecks.traces.analysed"  # Sum, delta, per window

INSTANCE = "otel_perf.tier.instance"
SOURCE = "otel_perf.tier.source"
THRESHOLD = "duration.threshold_s"
SPAN_NAME = "span.name"
SPAN_KIND = "span.kind"
STATUS = "status.code"
SELF_SERVICE = "otel-perf"  # the resource of watermark and window-total points

#: series dims carried as resource attributes rather than point attributes
RESOURCE_DIMS = frozenset({"service.version", "service.namespace"})
#: point attributes that are not series dims
NOT_DIMS = frozenset({INSTANCE, SOURCE, THRESHOLD, SPAN_NAME, SPAN_KIND, STATUS})

SPAN_KINDS = (
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
)
STATUS_ERROR = "STATUS_CODE_ERROR"
STATUS_OK = "STATUS_CODE_UNSET"
