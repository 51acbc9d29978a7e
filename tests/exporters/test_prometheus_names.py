"""Our Prometheus name mapping agrees with the OTel Prometheus reader's output.

Each row is recorded through the real OTel SDK into a ``PrometheusMetricReader`` on its own
registry; the family name and label names it writes must be what ``metric_name``,
``unit_suffix`` and ``label_name`` give (with ``prometheus_client`` appending the unit as
the span metrics collector does). A new reader release that maps differently fails here.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily

from otel_perf.exporters.prometheus.names import label_name, metric_name, unit_suffix

#: (instrument name, unit, attribute key); names valid for the SDK, units and keys free
ROWS = [
    ("http.server.duration", "s", "http.route"),
    ("db.client.operation.duration", "ms", "db.system"),
    ("process.memory.usage", "By", "service.name"),
    ("queue.depth", "{item}", "queue-name"),
    ("cpu.utilization", "1", "1st.core"),
    ("disk.used", "%", "device path"),
    ("net.throughput", "By/s", "net.peer:port"),
    ("requests.rate", "{request}/s", "état"),
    ("speed", "m/s", "_private"),
    ("cache.size", "KiBy", "cache..name"),
    ("temperature", "Cel", "sensor__id"),
    ("clock.frequency", "Hz", "core"),
    ("odd_unit", "weird unit!", "k"),
    ("rate.only", "/s", "k"),
    ("per.nothing", "req/", "k"),
    ("per.custom", "jobs/batch", "k"),
    ("forecast.horizon", "d", "k"),
    ("plain", "", "k"),
    ("Mixed-Case/slash_name", "ns", "Upper.Key"),
]


def reader_output(prefix: str) -> dict[str, set[str]]:
    """Family name → label names, as the reader writes one gauge per row."""
    registry = CollectorRegistry()
    reader = PrometheusMetricReader(
        disable_target_info=True, prefix=prefix, scope_info_enabled=False, registry=registry
    )
    provider = MeterProvider(metric_readers=[reader])
    meter = provider.get_meter("names-test")
    for name, unit, key in ROWS:
        meter.create_gauge(name, unit=unit).set(1.0, {key: "v"})
    try:
        return {
            family.name: {label for sample in family.samples for label in sample.labels}
            for family in registry.collect()
        }
    finally:
        provider.shutdown()


def family(name: str, unit: str) -> str:
    """The family name ``prometheus_client`` makes of a name and a unit suffix."""
    return GaugeMetricFamily(name, "", unit=unit).name


@pytest.mark.parametrize("prefix", ["", "otel_perf"])
def test_names_match_the_readers_output(prefix: str) -> None:
    # the SDK folds instrument names to lower case before the reader sees them
    ours = {
        family(metric_name(name.lower(), prefix or None), unit_suffix(unit)): {label_name(key)}
        for name, unit, key in ROWS
    }
    assert reader_output(prefix) == ours


@pytest.mark.parametrize(
    ("mapping", "given", "expected"),
    [
        # names the SDK refuses as instrument names but other sources (config, keys) use
        (metric_name, "2xx.requests", "_xx_requests"),
        (metric_name, "ns:sub.metric", "ns:sub_metric"),
        (metric_name, "a  b--c", "a_b_c"),
        (label_name, "ns:key", "ns_key"),
        (label_name, "9lives", "_lives"),
        (unit_suffix, "{call}", ""),
        (unit_suffix, "s", "seconds"),
        (unit_suffix, "By/s", "bytes_per_second"),
        (unit_suffix, "/s", "per_second"),
        (unit_suffix, "req/", "req"),
        (unit_suffix, "__x__", "x"),
    ],
)
def test_examples_from_the_specification(
    mapping: Callable[[str], str], given: str, expected: str
) -> None:
    assert mapping(given) == expected
