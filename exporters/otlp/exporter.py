"""The ``otlp`` exporter: findings as OTel events, pipeline health as OTel metrics.

Each exporter owns its own LoggerProvider and MeterProvider (never the global
ones), so two ``otlp`` exporters can run in one process. ``export()`` only
hands records to the SDK's BatchLogRecordProcessor queue and bumps a counter:
sending, retrying and backoff happen on the SDK's worker threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry._logs import Logger, SeverityNumber
from opentelemetry.metrics import Counter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_perf.component import Context, Exporter, Factory
from otel_perf.component.exporterhelper import LifecycleExporter
from otel_perf.exporters import instruments
from otel_perf.exporters.instruments import SCOPE, build_resource
from otel_perf.exporters.open_findings import SEED_LIMIT, OpenFindings
from otel_perf.exporters.otlp import transport
from otel_perf.exporters.otlp.config import OTLPExporterConfig
from otel_perf.exporters.otlp.spanmetrics import SpanMetricsSender
from otel_perf.findings import Finding

log = logging.getLogger("otel_perf.exporters.otlp")

#: findings waiting for the worker thread; past this the oldest are dropped
#: rather than letting a dead endpoint grow memory without bound
MAX_QUEUE_SIZE = 2048


@dataclass
class _Running:
    """Everything start() builds, so shutdown() can tear it down as a unit."""

    logger_provider: LoggerProvider | None = None
    meter_provider: MeterProvider | None = None
    logger: Logger | None = None
    findings: Counter | None = None
    exporters: list[transport.CountingLogExporter | transport.CountingMetricExporter] = field(
        default_factory=list
    )
    span_metrics: SpanMetricsSender | None = None
    unsubscribe: Callable[[], None] | None = None

    def flush(self, timeout_s: float) -> None:
        """Export what is queued now; blocks at most about ``timeout_s`` per signal."""
        millis = int(timeout_s * 1000)
        if self.logger_provider is not None:
            self.logger_provider.force_flush(millis)
        if self.meter_provider is not None:
            try:
                self.meter_provider.force_flush(millis)
            except Exception:  # the SDK raises when a reader failed; already logged
                log.debug("metric flush failed", exc_info=True)

    def close(self, timeout_s: float) -> None:
        """Flush, then shut both providers down (their threads and channels)."""
        try:
            if self.unsubscribe is not None:
                self.unsubscribe()
            if self.span_metrics is not None:
                self.span_metrics.close(timeout_s)
            self.flush(timeout_s)
            if self.logger_provider is not None:
                self.logger_provider.shutdown()
            if self.meter_provider is not None:
                self.meter_provider.shutdown(timeout_millis=timeout_s * 1000)
        except Exception:  # runs on its own thread: nobody else would see it
            log.exception("error while shutting down the OTLP exporter")

    def abort(self) -> None:
        """Stop retries and close connections now; queued data is dropped."""
        for exporter in self.exporters:
            exporter.abort()


class OTLPExporter(LifecycleExporter[_Running]):
    """Publishes findings as OTel events and the pipeline's telemetry as metrics."""

    def __init__(self, context: Context, config: OTLPExporterConfig) -> None:
        super().__init__(context)
        self.config = config
        self.open_findings = OpenFindings(config.max_open_findings)

    def export(self, findings: list[Finding]) -> None:
        """Queue findings as log records, count openings and keep the open-finding gauges;
        never waits on the network."""
        running = self._running
        if running is None:
            return
        for finding in findings:
            if running.logger is not None:
                _emit(running.logger, finding)
            opened = self.open_findings.offer(finding)
            if running.findings is not None and opened:
                running.findings.add(1, instruments.finding_attributes(finding))

    def flush(self) -> None:
        """Export queued events and current metrics now (blocks while sending)."""
        running = self._running
        if running is not None:
            running.flush(self.config.timeout)

    def _close(self, running: _Running) -> None:
        # the SDK's own shutdown waits up to 30s per signal against a dead endpoint;
        # run it aside and abort the exporters when our budget is spent
        closer = threading.Thread(
            target=running.close,
            args=(self.config.timeout,),
            name=f"otel-perf-{self.id}-shutdown",
            daemon=True,
        )
        closer.start()
        closer.join(self.config.timeout)
        if closer.is_alive():
            log.warning("exporter %s: shutdown timed out, dropping unsent data", self.id)
            running.abort()

    def _build(self) -> _Running:
        resource = build_resource(self.config.resource)
        running = _Running()
        if self.config.events:
            exporter = transport.log_exporter(self.config, self.count_error)
            provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
            provider.add_log_record_processor(
                BatchLogRecordProcessor(exporter, max_queue_size=MAX_QUEUE_SIZE)
            )
            running.exporters.append(exporter)
            running.logger_provider = provider
            running.logger = provider.get_logger(SCOPE, instruments.scope_version())
        if self.config.metrics:
            metric_exporter = transport.metric_exporter(self.config, self.count_error)
            reader = PeriodicExportingMetricReader(
                metric_exporter,
                export_interval_millis=self.config.metrics_interval * 1000,
                export_timeout_millis=self.config.timeout * 1000,
            )
            meters = MeterProvider([reader], resource=resource, shutdown_on_exit=False)
            running.exporters.append(metric_exporter)
            running.meter_provider = meters
            meter = meters.get_meter(SCOPE, instruments.scope_version())
            self.open_findings.seed(self.context.store.findings(limit=SEED_LIMIT))
            running.findings = instruments.create_instruments(
                meter, lambda: self._telemetry, self.open_findings
            )
        if self.config.metrics and self.config.span_metrics:
            sdk_exporter = transport.metric_exporter(self.config, self.count_error)
            running.exporters.append(sdk_exporter)
            scope = InstrumentationScope(SCOPE, instruments.scope_version())
            sender = SpanMetricsSender(sdk_exporter, scope, self.count_error)
            running.span_metrics = sender
            running.unsubscribe = self.context.series.subscribe(sender.offer)
        return running


def _emit(logger: Logger, finding: Finding) -> None:
    logger.emit(
        timestamp=finding.time_ns,
        severity_number=SeverityNumber(finding.severity.severity_number),
        severity_text=finding.severity.value.upper(),
        body=finding.summary,
        attributes=finding.flat_attributes(),
        event_name=finding.event_name,
    )


def create(context: Context, config: OTLPExporterConfig) -> OTLPExporter:
    """Build an ``otlp`` exporter (the factory's constructor)."""
    return OTLPExporter(context, config)


FACTORY: Factory[OTLPExporterConfig, Exporter] = Factory(
    type="otlp",
    config_model=OTLPExporterConfig,
    create=create,
    description="Findings as OTel events (log records) and otel_perf.* metrics over OTLP.",
)
