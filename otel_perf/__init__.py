"""otel-perf: an OpenTelemetry performance-intelligence sidecar.

The public surface is small and pinned by tests/test_public_api.py; everything
not listed in ``__all__`` is internal and may change.
"""

from otel_perf.component import (
    ComponentConfig,
    Context,
    Exporter,
    Factory,
    Processor,
    register_exporter,
    register_processor,
)
from otel_perf.config import Config, ConfigError, load_config
from otel_perf.findings import Finding, Kind, Severity, State
from otel_perf.pipeline import Pipeline

__version__ = "0.1.0"

__all__ = [
    "ComponentConfig",
    "Config",
    "ConfigError",
    "Context",
    "Exporter",
    "Factory",
    "Finding",
    "Kind",
    "Pipeline",
    "Processor",
    "Severity",
    "State",
    "__version__",
    "load_config",
    "register_exporter",
    "register_processor",
]
