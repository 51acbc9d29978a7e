"""The ``alertmanager`` exporter: findings as firing and resolved alerts (Alertmanager v2 API)."""

from otel_perf.exporters.alertmanager.config import AlertmanagerConfig
from otel_perf.exporters.alertmanager.exporter import FACTORY, AlertmanagerExporter

__all__ = ["FACTORY", "AlertmanagerConfig", "AlertmanagerExporter"]
