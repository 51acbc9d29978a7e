"""Graph building: one config's processors and exporters, the processor chain of each
signal and the exporters each processor's findings are routed to."""

from __future__ import annotations

from collections import defaultdict

from otel_perf.component import (
    Context,
    Exporter,
    Processor,
    component_type,
    exporter_types,
    processor_types,
)
from otel_perf.config import Config
from otel_perf.series import SeriesHub
from otel_perf.store import Store


class Graph:
    """The components of one config, created once each however many pipelines name them."""

    def __init__(self, config: Config, store: Store, series: SeriesHub) -> None:
        self.config = config
        self.store = store
        self.series = series
        self.processors: dict[str, Processor] = {}
        self.exporters: dict[str, Exporter] = {}
        self.chains: dict[str, list[Processor]] = {"traces": [], "metrics": [], "logs": []}
        self.routes: dict[str, list[Exporter]] = defaultdict(list)
        for name, settings in config.service.pipelines.items():
            chain = self.chains[name.split("/", 1)[0]]
            exporters = [self._exporter(eid) for eid in settings.exporters]
            for pid in settings.processors:
                processor = self._processor(pid)
                if processor not in chain:
                    chain.append(processor)
                for exporter in exporters:
                    if exporter not in self.routes[pid]:
                        self.routes[pid].append(exporter)
            # findings of processors outside this pipeline never reach its exporters,
            # but exporters still get the pipeline's own telemetry via bind_telemetry

    def sources_of(self, exporter: Exporter) -> frozenset[str]:
        """The processors whose findings are routed to ``exporter``."""
        return frozenset(pid for pid, routed in self.routes.items() if exporter in routed)

    @property
    def span_attributes(self) -> frozenset[str]:
        """Extra span attribute keys the configured trace processors read."""
        keys: set[str] = set()
        for processor in self.chains["traces"]:
            keys |= processor.span_attributes
        return frozenset(keys)

    def _processor(self, pid: str) -> Processor:
        if pid not in self.processors:
            factory = processor_types()[component_type(pid)]
            self.processors[pid] = factory.create(self._context(pid), self.config.processors[pid])
        return self.processors[pid]

    def _exporter(self, eid: str) -> Exporter:
        if eid not in self.exporters:
            factory = exporter_types()[component_type(eid)]
            self.exporters[eid] = factory.create(self._context(eid), self.config.exporters[eid])
        return self.exporters[eid]

    def _context(self, component_id: str) -> Context:
        return Context(component_id, self.store, self.series)
