"""End to end: an OTel SDK exports CPU and memory gauges (gRPC) and spans (HTTP) to otel-perf
running as its own process; the capacity processor records usage per resource and request
rate per service, exports the usage gauges on the Prometheus endpoint, and its history is in
the store for a new processor after the sidecar stops."""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path

import pytest
from e2e import RECEIVERS, start_sidecar
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind
from ports import free_port

from otel_perf.component import Context
from otel_perf.processors.capacity.config import CapacityConfig
from otel_perf.processors.capacity.processor import CapacityProcessor
from otel_perf.store import Store

pytestmark = pytest.mark.e2e

CONFIG = (
    RECEIVERS
    + """\
processors:
  spanmetrics: {{interval: 1s, late_grace: 0s}}
  capacity: {{forecast_interval: 1s, min_history: 0s}}
exporters:
  prometheus: {{endpoint: "127.0.0.1:%d"}}
extensions:
  api: {{endpoint: "127.0.0.1:{api}"}}
service:
  extensions: [api]
  tick_interval: 100ms
  pipelines:
    traces: {{receivers: [otlp], processors: [spanmetrics, capacity], exporters: [prometheus]}}
    metrics: {{receivers: [otlp], processors: [capacity], exporters: [prometheus]}}
"""
)
SPANS = 40
CPU = "shop/system.cpu.utilization"
MEMORY = "shop/process.memory.usage"


def cpu(options: CallbackOptions) -> Iterable[Observation]:
    for core, busy in (("0", 0.2), ("1", 0.4)):
        yield Observation(busy, {"cpu": core, "state": "user"})
        yield Observation(1 - busy, {"cpu": core, "state": "idle"})


def memory(options: CallbackOptions) -> Iterable[Observation]:
    yield Observation(256 * 2**20)


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


def usage_gauge(text: str, resource: str) -> float | None:
    pattern = (
        rf'^otel_perf_capacity_usage\w*\{{[^}}]*resource="{re.escape(resource)}"[^}}]*\}} (\S+)'
    )
    found = re.search(pattern, text, re.MULTILINE)
    return None if found is None else float(found.group(1))


def test_sdk_usage_and_request_rate_are_recorded_exported_and_kept(tmp_path: Path) -> None:
    prometheus = free_port()
    sidecar = start_sidecar(tmp_path, CONFIG % prometheus)
    try:
        resource = Resource.create({"service.name": "shop"})
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=sidecar.grpc_endpoint, insecure=True),
            export_interval_millis=3_600_000,
        )
        meters = MeterProvider([reader], resource=resource)
        meter = meters.get_meter("test")
        meter.create_observable_gauge("system.cpu.utilization", [cpu], unit="1")
        meter.create_observable_gauge("process.memory.usage", [memory], unit="By")
        for _ in range(3):
            reader.collect()
        meters.shutdown()

        tracers = TracerProvider(resource=resource)
        tracers.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{sidecar.http_url}/v1/traces"))
        )
        tracer = tracers.get_tracer("test")
        for _ in range(SPANS):
            with tracer.start_as_current_span("GET /cart", kind=SpanKind.SERVER):
                pass
        tracers.shutdown()

        sidecar.wait_for(lambda m: m["processed"]["spans"] == SPANS)
        # every span in a closed span-metrics interval: its rate reached capacity (published
        # synchronously), so the flush at stop stores it; an open interval would be lost
        sidecar.wait_for(lambda m: sum(r["calls"] for r in m.get("red", [])) == SPANS)
        deadline = time.monotonic() + 30
        text = ""
        while time.monotonic() < deadline:
            text = scrape(prometheus)
            if all(usage_gauge(text, r) is not None for r in (CPU, MEMORY, "shop/request.rate")):
                break
            time.sleep(0.1)
        # busy states per CPU averaged over the two CPUs: (0.2 + 0.4) / 2
        assert usage_gauge(text, CPU) == pytest.approx(0.3), text
        assert usage_gauge(text, MEMORY) == 256 * 2**20
    finally:
        assert sidecar.stop() == 0, sidecar.log()

    store = Store(sidecar.store)
    again = CapacityProcessor(Context("capacity", store), CapacityConfig())
    assert again.views.resources() == [MEMORY, "shop/request.rate", CPU]
    _, values, interval = again.views.usage(CPU)
    assert interval == 300.0 and values[-1] == pytest.approx(0.3)
    # 1 s span-metrics intervals: the per-second rates add up to every span sent
    fine = again.history.series("shop/request.rate", 300)
    assert sum(bucket.sum for bucket in fine.buckets) == pytest.approx(SPANS)
    store.close()


HOST_CONFIG = """
receivers:
  hostmetrics: {{collection_interval: 200ms, filesystem_path: "{tmp}"}}
processors:
  capacity: {{raw_min_interval: 0s}}
service:
  tick_interval: 100ms
  store: {{flush_interval: 100ms}}
  pipelines:
    metrics: {{receivers: [hostmetrics], processors: [capacity]}}
"""


def test_host_cpu_usage_follows_a_cpu_burning_child(tmp_path: Path) -> None:
    """The hostmetrics receiver feeds the capacity processor with no app involved: while a
    child spins on one CPU, the recorded host CPU usage shows at least that CPU busy."""
    import subprocess
    import sys

    import psutil

    from otel_perf.config import load_config
    from otel_perf.processors.capacity.history import RAW
    from otel_perf.sidecar import Sidecar

    resource = "host/system.cpu.utilization"
    sidecar = Sidecar(load_config(text=HOST_CONFIG.format(tmp=tmp_path)), str(tmp_path / "s.db"))
    sidecar.start()
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        (processor,) = sidecar.pipeline.processors.values()
        assert isinstance(processor, CapacityProcessor)
        burner = psutil.Process(child.pid)

        def busy() -> float:
            times = burner.cpu_times()
            return float(times.user + times.system)

        start_ns, spent = time.time_ns(), busy()
        deadline = time.monotonic() + 60
        samples: list[float] = []
        while time.monotonic() < deadline:
            with processor.lock:
                series = processor.history.series(resource, RAW, since_ns=start_ns)
            # windows wholly inside the burn: the first sample after start closes a window
            # that began before it
            samples = [b.last for b in series.buckets[1:]]
            if len(samples) >= 3 and busy() - spent >= 0.6:
                break
            time.sleep(0.05)
        assert len(samples) >= 3, f"only {len(samples)} host CPU samples reached capacity"
        cpus = psutil.cpu_count() or 1
        assert min(samples) >= 0.8 / cpus, samples
        assert resource in processor.views.resources()
    finally:
        child.kill()
        child.wait()
        sidecar.stop()
