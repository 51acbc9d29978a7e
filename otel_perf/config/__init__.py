"""Collector-shaped YAML config: load, validate, redact."""

from otel_perf.config.loader import (
    EMBEDDED,
    Config,
    ConfigError,
    Problem,
    default_config_text,
    load_config,
)

__all__ = ["EMBEDDED", "Config", "ConfigError", "Problem", "default_config_text", "load_config"]
