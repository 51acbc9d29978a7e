"""The component contract (processor, exporter, factory) and the helpers components share.

Like the Collector's ``component`` package with its ``processorhelper`` and
``exporterhelper``: a component type is a factory with a config model; the
helpers (a sender with a bounded queue and backoff, throttled state persistence)
own the chores so a component writes only its logic.
"""

from otel_perf.component.contract import (
    Component,
    ComponentConfig,
    Context,
    EmptyConfig,
    Exporter,
    Factory,
    Processor,
    component_type,
    exporter_types,
    processor_types,
    register_exporter,
    register_processor,
    surfaces,
)
from otel_perf.component.surface import (
    OpenAPIResponses,
    PipelineView,
    RouteContext,
    Surface,
)

__all__ = [
    "Component",
    "ComponentConfig",
    "Context",
    "EmptyConfig",
    "Exporter",
    "Factory",
    "Processor",
    "component_type",
    "exporter_types",
    "processor_types",
    "register_exporter",
    "register_processor",
    "surfaces",
    "OpenAPIResponses",
    "PipelineView",
    "RouteContext",
    "Surface",
]
