"""The ``prometheus`` exporter: otel-perf's metrics on a Prometheus scrape endpoint."""

from otel_perf.exporters.prometheus.config import PrometheusExporterConfig
from otel_perf.exporters.prometheus.exporter import FACTORY, PrometheusExporter

__all__ = ["FACTORY", "PrometheusExporter", "PrometheusExporterConfig"]
