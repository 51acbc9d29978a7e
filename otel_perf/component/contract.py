"""The component contract and the registry of component types.

A component type is a factory: a pydantic config model (validated at load)
and a ``create`` function. Component ids in the YAML are ``type`` or
``type/name`` so one type can run twice (``slo/checkout``, ``slo/search``).

Processors take batches, evaluate on ``tick(now_ns)`` and return findings;
they offer a read-only ``snapshot()`` for the API and ``start``/``shutdown``
for what they hold. Exporters receive findings (and the pipeline's own
metrics). Neither calls the other: the pipeline wires them.
"""

from __future__ import annotations

import builtins
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from otel_perf.component.surface import NO_SURFACE, Surface
from otel_perf.findings import Finding
from otel_perf.model import LogBatch, MetricBatch, SpanBatch
from otel_perf.series import SeriesHub
from otel_perf.store import Store


class ComponentConfig(BaseModel):
    """Base for every component's settings: frozen, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class EmptyConfig(ComponentConfig):
    """For components with no settings."""


@dataclass(frozen=True)
class Context:
    """What a component gets at creation: its id, the shared store and the series hub."""

    component_id: str
    store: Store
    series: SeriesHub = field(default_factory=SeriesHub)


class Component:
    """What processors and exporters share: their context and id."""

    def __init__(self, context: Context) -> None:
        self.context = context

    @property
    def id(self) -> str:
        """The component id from the config (``type`` or ``type/name``)."""
        return self.context.component_id


class Processor(Component):
    """Base processor; override what you need. Methods run on the pipeline thread."""

    #: span attribute keys this processor reads, beyond the defaults
    span_attributes: frozenset[str] = frozenset()

    def start(self) -> None:
        """Load persisted state, open resources."""

    def consume_spans(self, batch: SpanBatch) -> None:
        """Take a batch of spans."""

    def consume_metrics(self, batch: MetricBatch) -> None:
        """Take a batch of metric points."""

    def consume_logs(self, batch: LogBatch) -> None:
        """Take a batch of log records."""

    def tick(self, now_ns: int) -> list[Finding]:
        """Evaluate at event time ``now_ns``; return new findings."""
        return []

    def gauges(self) -> list[tuple[str, float, dict[str, str]]]:
        """Current values (name, value, attributes) for exporters to publish as gauges.

        Names must be registered with :func:`otel_perf.component.gauges.register`.
        """
        return []

    def finish(self, now_ns: int) -> list[Finding]:
        """End of input (a replay's last line): evaluate everything still held."""
        return self.tick(now_ns)

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready, read-only view of current state for the API."""
        return {}

    def flush(self, now_ns: int) -> None:
        """Persist state to the store."""

    def shutdown(self) -> None:
        """Release resources; must be safe to call twice and without start()."""


class Exporter(Component):
    """Base exporter: receives findings and the pipeline's self-observability."""

    def start(self) -> None:
        """Open connections or files."""

    def export(self, findings: list[Finding]) -> None:
        """Hand findings on; must not block ingest (queue and retry internally)."""

    def bind_telemetry(self, telemetry: Any) -> None:
        """Receive the pipeline's telemetry object, to export its metrics."""

    def bind_sources(self, sources: frozenset[str]) -> None:
        """Receive the ids of the processors whose findings reach this exporter."""

    def flush(self) -> None:
        """Push out anything queued."""

    def shutdown(self) -> None:
        """Flush and release; safe to call twice and without start()."""


C = TypeVar("C", bound=ComponentConfig)
P = TypeVar("P", Processor, Exporter)


@dataclass(frozen=True)
class Factory(Generic[C, P]):
    """A component type: its name, config model and constructor."""

    type: str
    config_model: builtins.type[C]
    create: Callable[[Context, C], P]
    description: str = ""
    #: the routes, OpenAPI paths and CLI commands the type contributes
    surface: Surface = NO_SURFACE


_PROCESSORS: dict[str, Factory[Any, Processor]] = {}
_EXPORTERS: dict[str, Factory[Any, Exporter]] = {}
_BUILTINS_LOADED = False
#: packages whose ``register_builtins()`` adds the built-in component types
BUILTIN_PACKAGES = ("otel_perf.processors", "otel_perf.exporters")


def register_processor(factory: Factory[Any, Processor]) -> None:
    """Add a processor type (built-ins register themselves on import)."""
    _PROCESSORS[factory.type] = factory


def register_exporter(factory: Factory[Any, Exporter]) -> None:
    """Add an exporter type."""
    _EXPORTERS[factory.type] = factory


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    # the built-in component packages, found by name: the core imports no component
    for package in BUILTIN_PACKAGES:
        importlib.import_module(package).register_builtins()


def processor_types() -> Mapping[str, Factory[Any, Processor]]:
    _load_builtins()
    return dict(sorted(_PROCESSORS.items()))


def surfaces() -> list[Surface]:
    """Every registered type's surface: processors, then exporters, each by type name."""
    factories: list[Factory[Any, Any]] = [*processor_types().values()]
    factories += exporter_types().values()
    return [f.surface for f in factories if f.surface is not NO_SURFACE]


def exporter_types() -> Mapping[str, Factory[Any, Exporter]]:
    _load_builtins()
    return dict(sorted(_EXPORTERS.items()))


def component_type(component_id: str) -> str:
    """``slo/checkout`` -> ``slo``."""
    return component_id.split("/", 1)[0]
