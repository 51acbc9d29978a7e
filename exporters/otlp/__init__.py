"""The ``otlp`` exporter: findings as OTel events and metrics over OTLP gRPC or HTTP."""

from otel_perf.exporters.otlp.config import OTLPExporterConfig
from otel_perf.exporters.otlp.exporter import FACTORY, OTLPExporter

__all__ = ["FACTORY", "OTLPExporter", "OTLPExporterConfig"]
