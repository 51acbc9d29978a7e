"""Fan-out: every finding to the in-process subscribers of its kind and to the exporters
its processor is routed to."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from otel_perf.component import Exporter
from otel_perf.findings import Finding, Kind
from otel_perf.pipeline.guard import Guard
from otel_perf.telemetry import Telemetry

Handler = Callable[[Finding], None]
ALL = "*"


class FanOut:
    """Subscribers by finding kind, and the routes from processors to exporters."""

    def __init__(
        self, routes: dict[str, list[Exporter]], telemetry: Telemetry, guard: Guard
    ) -> None:
        self.routes = routes
        self.telemetry = telemetry
        self.guard = guard
        self.subscribers: dict[str, list[Handler]] = defaultdict(list)

    def on(self, kind: Kind | str, handler: Handler) -> Callable[[], None]:
        """Subscribe ``handler`` to ``kind`` (``"*"`` for all); returns the unsubscribe."""
        key = kind.value if isinstance(kind, Kind) else kind
        if key != ALL and key not in {k.value for k in Kind}:
            known = ", ".join(k.value for k in Kind)
            raise ValueError(f'unknown finding kind "{key}" (known: {known}, or "*")')
        self.subscribers[key].append(handler)
        return lambda: self.subscribers[key].remove(handler)

    def publish(self, source: str, finding: Finding) -> None:
        """Count ``finding`` of processor ``source``, then hand it to subscribers and exporters."""
        self.telemetry.count(self.telemetry.findings, finding.kind.value)
        for handler in [*self.subscribers[finding.kind.value], *self.subscribers[ALL]]:
            self.guard(f"subscriber:{finding.kind.value}", handler, finding)
        for exporter in self.routes.get(source, ()):
            self.guard(exporter.id, exporter.export, [finding])
