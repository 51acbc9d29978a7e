"""The ``prometheus`` exporter: otel-perf's metrics on a scrape endpoint.

The ``otel_perf.*`` instruments (shared with the ``otlp`` exporter) live on this
exporter's own MeterProvider, read by the OTel SDK's PrometheusMetricReader,
which does the OTel→Prometheus naming (units as suffixes, ``_total`` on
counters). Span metrics come from the series hub as cumulative classic
histograms. Both write into a private registry that a :class:`SeriesCap` serves,
capped per metric, on prometheus_client's HTTP server (``/metrics``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import Counter
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from prometheus_client import start_http_server
from prometheus_client.core import CollectorRegistry

from otel_perf.component import Context, Exporter, Factory
from otel_perf.component.exporterhelper import LifecycleExporter
from otel_perf.config.types import split_endpoint
from otel_perf.exporters import instruments
from otel_perf.exporters.open_findings import SEED_LIMIT, OpenFindings
from otel_perf.exporters.prometheus.cap import DROPPED, SeriesCap
from otel_perf.exporters.prometheus.config import PrometheusExporterConfig
from otel_perf.exporters.prometheus.names import metric_name
from otel_perf.exporters.prometheus.spanmetrics import SpanMetricsCollector
from otel_perf.findings import Finding

log = logging.getLogger("otel_perf.exporters.prometheus")


@dataclass
class _Running:
    """Everything start() builds, torn down as a unit by shutdown()."""

    meter_provider: MeterProvider
    findings: Counter
    server: WSGIServer
    thread: threading.Thread
    unsubscribe: Callable[[], None] | None = None

    def close(self) -> None:
        if self.unsubscribe is not None:
            self.unsubscribe()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5.0)
        self.meter_provider.shutdown()


class PrometheusExporter(LifecycleExporter[_Running]):
    """Serves the pipeline's metrics, processor gauges and span metrics for scraping."""

    def __init__(self, context: Context, config: PrometheusExporterConfig) -> None:
        super().__init__(context)
        self.config = config
        self.open_findings = OpenFindings(config.max_open_findings)

    @property
    def address(self) -> tuple[str, int] | None:
        """Where ``/metrics`` listens (the real port when configured with port 0)."""
        running = self._running
        if running is None:
            return None
        host, port = running.server.server_address[:2]
        return str(host), int(port)

    def export(self, findings: list[Finding]) -> None:
        """Count openings in ``otel_perf_findings_total``; keep ``otel_perf_finding_open``
        (and ``_impact``) to what is open now (the scrape reads them)."""
        running = self._running
        if running is None:
            return
        for finding in findings:
            if self.open_findings.offer(finding):
                running.findings.add(1, instruments.finding_attributes(finding))

    def flush(self) -> None:
        """Nothing to send: Prometheus pulls."""

    def _close(self, running: _Running) -> None:
        """Stop listening and release the providers."""
        running.close()

    def _build(self) -> _Running:
        """Build the meter provider and registries and start listening (``start()``).

        Raises:
            OSError: if the endpoint cannot be bound (in use, no such address),
                with the exporter id and endpoint in the message.
        """
        config = self.config
        resource = instruments.build_resource(config.resource)
        source = CollectorRegistry(auto_describe=False)
        cap = SeriesCap(
            source,
            config.max_series_per_metric,
            metric_name(DROPPED, config.namespace),
        )
        convert = config.resource_to_telemetry_conversion
        reader = PrometheusMetricReader(
            prefix=config.namespace or "",
            registry=source,
            resource_attribute_filter=(lambda _key: True) if convert else None,
        )
        provider = MeterProvider(
            [reader],
            resource=resource,
            # classic histograms whatever OTEL_EXPORTER_METRICS_DEFAULT_HISTOGRAM_AGGREGATION
            # says: the reader cannot expose exponential ones
            views=[
                View(
                    instrument_type=Histogram,
                    aggregation=ExplicitBucketHistogramAggregation(config.histogram_buckets),
                )
            ],
            shutdown_on_exit=False,
        )
        meter = provider.get_meter(instruments.SCOPE, instruments.scope_version())
        self.open_findings.seed(self.context.store.findings(limit=SEED_LIMIT))
        findings = instruments.create_instruments(
            meter, lambda: self._telemetry, self.open_findings
        )
        unsubscribe = None
        if config.span_metrics:
            labels = {str(k): str(v) for k, v in resource.attributes.items()} if convert else {}
            spans = SpanMetricsCollector(
                config.histogram_buckets,
                config.max_series_per_metric,
                cap.count_dropped,
                config.namespace,
                {**labels, **_scope_labels()},
            )
            source.register(spans)
            unsubscribe = self.context.series.subscribe(spans.offer)
        served = CollectorRegistry(auto_describe=False)
        served.register(cap)
        server, thread = self._listen(served, provider, unsubscribe)
        return _Running(provider, findings, server, thread, unsubscribe)

    def _listen(
        self,
        registry: CollectorRegistry,
        provider: MeterProvider,
        unsubscribe: Callable[[], None] | None,
    ) -> tuple[WSGIServer, threading.Thread]:
        host, port = split_endpoint(self.config.endpoint)
        try:
            return start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            if unsubscribe is not None:
                unsubscribe()
            provider.shutdown()
            raise OSError(
                exc.errno, f"exporter {self.id}: cannot listen on {self.config.endpoint}: {exc}"
            ) from exc


def _scope_labels() -> dict[str, str]:
    # the labels the OTel reader puts on its own series, so span metrics match them
    return {
        "otel_scope_name": instruments.SCOPE,
        "otel_scope_version": instruments.scope_version() or "",
        "otel_scope_schema_url": "",
    }


def create(context: Context, config: PrometheusExporterConfig) -> PrometheusExporter:
    """Build a ``prometheus`` exporter (the factory's constructor)."""
    return PrometheusExporter(context, config)


FACTORY: Factory[PrometheusExporterConfig, Exporter] = Factory(
    type="prometheus",
    config_model=PrometheusExporterConfig,
    create=create,
    description="otel-perf's metrics (SLO, anomaly, regression, forecasts, span metrics, "
    "self-observability) on a Prometheus scrape endpoint.",
)
