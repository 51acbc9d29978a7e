"""Processors: one package per processor, imported as otel_perf.processors.<name>.

Each package holds ``config.py`` (its settings model), ``processor.py`` (the
stateful shell), pure modules for the math, and a README.md. A processor with
its own API routes, CLI commands, health checks or recommendation rules declares
them in ``surface.py`` (a :class:`~otel_perf.component.Surface`), attached to its
factory here. Built-in types register themselves through :func:`register_builtins`.
"""


def register_builtins() -> None:
    """Register the built-in processor types."""
    from dataclasses import replace

    from otel_perf.component import register_processor
    from otel_perf.processors.aggregates.processor import FACTORY as AGGREGATES
    from otel_perf.processors.anomaly import surface as anomaly_surface
    from otel_perf.processors.anomaly.processor import FACTORY as ANOMALY
    from otel_perf.processors.bottlenecks import surface as bottlenecks_surface
    from otel_perf.processors.bottlenecks.processor import FACTORY as BOTTLENECKS
    from otel_perf.processors.cache import surface as cache_surface
    from otel_perf.processors.cache.processor import FACTORY as CACHE
    from otel_perf.processors.capacity import surface as capacity_surface
    from otel_perf.processors.capacity.processor import FACTORY as CAPACITY
    from otel_perf.processors.incidents import surface as incidents_surface
    from otel_perf.processors.incidents.processor import FACTORY as INCIDENTS
    from otel_perf.processors.instrumentation import surface as instrumentation_surface
    from otel_perf.processors.instrumentation.processor import FACTORY as INSTRUMENTATION
    from otel_perf.processors.regression import surface as regression_surface
    from otel_perf.processors.regression.processor import FACTORY as REGRESSION
    from otel_perf.processors.slo import surface as slo_surface
    from otel_perf.processors.slo.processor import FACTORY as SLO
    from otel_perf.processors.spanmetrics import surface as spanmetrics_surface
    from otel_perf.processors.spanmetrics.processor import FACTORY as SPANMETRICS

    builtins = (
        replace(SPANMETRICS, surface=spanmetrics_surface.SURFACE),
        replace(BOTTLENECKS, surface=bottlenecks_surface.SURFACE),
        replace(SLO, surface=slo_surface.SURFACE),
        replace(ANOMALY, surface=anomaly_surface.SURFACE),
        replace(REGRESSION, surface=regression_surface.SURFACE),
        replace(CACHE, surface=cache_surface.SURFACE),
        replace(CAPACITY, surface=capacity_surface.SURFACE),
        AGGREGATES,
        replace(INSTRUMENTATION, surface=instrumentation_surface.SURFACE),
        replace(INCIDENTS, surface=incidents_surface.SURFACE),
    )
    for factory in builtins:
        register_processor(factory)
