"""The ``jsonl`` exporter: findings appended to a file, one JSON object per line."""

from otel_perf.exporters.jsonl.config import JsonlConfig
from otel_perf.exporters.jsonl.exporter import FACTORY, JsonlExporter

__all__ = ["FACTORY", "JsonlConfig", "JsonlExporter"]
