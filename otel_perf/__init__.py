"""otel-perf: an OpenTelemetry performance-intelligence sidecar.

The public surface is small and pinned by tests/test_public_api.py; everything
not listed in ``__all__`` is internal and may change.

The names load on first use (PEP 562), so that ``import otel_perf.asgi`` or
``otel_perf.cache`` — the app library, installable without the sidecar's
dependencies — does not import the engine (grpcio, numpy, ...).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOMES = {
    "otel_perf.component": (
        "ComponentConfig",
        "Context",
        "Exporter",
        "Factory",
        "Processor",
        "register_exporter",
        "register_processor",
    ),
    "otel_perf.config": ("Config", "ConfigError", "load_config"),
    "otel_perf.findings": ("Finding", "Kind", "Severity", "State"),
    "otel_perf.pipeline": ("Pipeline",),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

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


def __getattr__(name: str) -> Any:
    """The public name ``name``, imported from its module on first use."""
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'otel_perf' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
