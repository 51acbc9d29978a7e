"""Performance monitoring for ASGI apps on top of OpenTelemetry's ASGI middleware.

``performance_monitoring(app)`` wraps an app in opentelemetry-instrumentation-asgi's
``OpenTelemetryMiddleware`` with otel-perf's profiling inside the server span;
``checkpoint`` marks phases of a request; ``record_business_metric`` records a histogram
``business.<name>``. README.md in this folder has the details.
"""

from otel_perf.asgi.memory import read_rss
from otel_perf.asgi.metrics import BusinessMetrics, record_business_metric
from otel_perf.asgi.middleware import PerformanceMiddleware, performance_monitoring
from otel_perf.asgi.profiling import (
    FORBIDDEN_HEADERS,
    Profiling,
    RequestMonitor,
    checkpoint,
    current_request,
)

__all__ = [
    "FORBIDDEN_HEADERS",
    "BusinessMetrics",
    "PerformanceMiddleware",
    "Profiling",
    "RequestMonitor",
    "checkpoint",
    "current_request",
    "performance_monitoring",
    "read_rss",
    "record_business_metric",
]
