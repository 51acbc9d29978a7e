"""The trace tier's exporter: exact, mergeable aggregates over OTLP (``otlp_aggregates``)."""

from otel_perf.exporters.aggregates.exporter import FACTORY

__all__ = ["FACTORY"]
