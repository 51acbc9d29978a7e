"""The prometheus exporter, scraped over a real socket: OTel->Prometheus names, the span
metrics histogram, the per-metric series cap, resource labels and config errors."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from otel_perf.component import Context, processor_types
from otel_perf.exporters.prometheus import PrometheusExporter, PrometheusExporterConfig
from otel_perf.findings import Finding, Kind, Severity, State
from otel_perf.series import RED, SeriesInterval, SeriesKey
from otel_perf.store import Store
from otel_perf.telemetry import Telemetry

processor_types()  # processors register their gauge names at import

S = 1_000_000_000

GaugeRows = dict[str, list[tuple[float, dict[str, str]]]]
SHOP = {"service.name": "shop", "objective": "availability"}


def telemetry(rows: GaugeRows) -> Telemetry:
    bound = Telemetry()
    bound.accepted["spans"] = 42
    bound.processing_ns["slo"] = 1_500_000_000
    bound.processing_batches["slo"] = 3
    bound.queue_capacity = 100
    bound.gauge_source = lambda: rows
    return bound


def interval(*keys: SeriesKey, start_ns: int = 0) -> SeriesInterval:
    values = {}
    for key in keys:
        red = RED(10, 2)
        red.duration_s.record_many([0.01] * 5 + [0.2] * 5)
        values[key] = red
    return SeriesInterval(start_ns, start_ns + 10, 10, values)


def scrape(exporter: PrometheusExporter) -> dict[str, Any]:
    assert exporter.address is not None
    host, port = exporter.address
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def samples(family: Any, name: str | None = None) -> list[tuple[dict[str, str], float]]:
    return [(s.labels, s.value) for s in family.samples if name is None or s.name == name]


@pytest.fixture
def make() -> Iterator[Any]:
    started: list[PrometheusExporter] = []

    def build(rows: GaugeRows | None = None, **settings: Any) -> PrometheusExporter:
        config = PrometheusExporterConfig.model_validate({"endpoint": "127.0.0.1:0", **settings})
        exporter = PrometheusExporter(Context("prometheus", Store(":memory:")), config)
        exporter.bind_telemetry(telemetry(rows or {}))
        exporter.start()
        started.append(exporter)
        return exporter

    yield build
    for exporter in started:
        exporter.shutdown()


def test_names_follow_the_otel_to_prometheus_mapping(make: Any) -> None:
    rows: GaugeRows = {
        "otel_perf.slo.error_budget.remaining": [(0.25, SHOP)],
        "otel_perf.capacity.time_to_threshold": [(3.5, {"resource": "disk"})],
    }
    exporter = make(rows)
    exporter.export(
        [
            Finding(
                kind=Kind.ANOMALY_DETECTED,
                severity=Severity.WARNING,
                service="shop",
                subject="x",
                time_ns=1,
                summary="odd",
            )
        ]  # fmt: skip
    )
    families = scrape(exporter)
    # prometheus_client's parser strips _total from counter family names
    assert families["otel_perf_findings"].type == "counter"
    labels, value = samples(families["otel_perf_findings"], "otel_perf_findings_total")[0]
    assert value == 1 and labels["kind"] == "anomaly_detected" and labels["service"] == "shop"
    accepted = samples(families["otel_perf_receiver_accepted"], "otel_perf_receiver_accepted_total")
    assert {lab["signal"]: v for lab, v in accepted}["spans"] == 42
    # unit "s" becomes a _seconds suffix before _total; unit "d" becomes _days
    seconds = families["otel_perf_processor_duration_seconds"]
    assert samples(seconds, "otel_perf_processor_duration_seconds_total")[0][1] == 1.5
    assert samples(families["otel_perf_capacity_time_to_threshold_days"])[0][1] == 3.5
    # unit "1" adds nothing; attribute service.name becomes label service_name
    budget = families["otel_perf_slo_error_budget_remaining"]
    assert budget.type == "gauge"
    labels, value = samples(budget)[0]
    assert value == 0.25 and labels["service_name"] == "shop"
    assert labels["objective"] == "availability"
    assert samples(families["otel_perf_queue_capacity"])[0][1] == 100


def test_span_metrics_are_a_counter_and_a_classic_histogram(make: Any) -> None:
    exporter = make()
    key = SeriesKey("shop", "GET /items", 2, (("http.route", "/items"),))
    exporter.context.series.publish(interval(key))
    exporter.context.series.publish(interval(key, start_ns=10))
    rollup = interval(key)
    exporter.context.series.publish(  # rollups repeat base intervals: not counted again
        SeriesInterval(0, 20, 60, rollup.values, rollup=True)
    )
    families = scrape(exporter)
    calls = {
        lab["status_code"]: v
        for lab, v in samples(
            families["traces_span_metrics_calls"], "traces_span_metrics_calls_total"
        )
    }
    assert calls == {"STATUS_CODE_UNSET": 16, "STATUS_CODE_ERROR": 4}
    histogram = families["traces_span_metrics_duration_seconds"]
    assert histogram.type == "histogram"
    buckets = {
        lab["le"]: v for lab, v in samples(histogram, "traces_span_metrics_duration_seconds_bucket")
    }
    assert buckets["0.005"] == 0 and buckets["0.05"] == 10 and buckets["0.1"] == 10
    assert buckets["0.25"] == 20 and buckets["+Inf"] == 20
    assert list(buckets.values()) == sorted(buckets.values())  # cumulative
    count = samples(histogram, "traces_span_metrics_duration_seconds_count")
    total = samples(histogram, "traces_span_metrics_duration_seconds_sum")
    assert count[0][1] == 20 and total[0][1] == pytest.approx(2.1)
    labels = count[0][0]
    assert labels["service_name"] == "shop" and labels["span_name"] == "GET /items"
    assert labels["span_kind"] == "SPAN_KIND_SERVER" and labels["http_route"] == "/items"


def test_namespace_prefixes_every_name(make: Any) -> None:
    exporter = make({"otel_perf.anomaly.score": [(0.5, {"series": "a"})]}, namespace="shop")
    exporter.context.series.publish(interval(SeriesKey("shop", "GET /")))
    names = set(scrape(exporter))
    assert {"shop_otel_perf_anomaly_score", "shop_traces_span_metrics_calls"} <= names
    assert "shop_otel_perf_receiver_accepted" in names
    assert not {n for n in names if n.startswith(("otel_perf", "traces"))}


def test_series_past_the_cap_are_left_out_and_counted(make: Any) -> None:
    scores = [(i / 10, {"series": f"s{i}"}) for i in range(5)]
    exporter = make({"otel_perf.anomaly.score": scores}, max_series_per_metric=3)
    exporter.context.series.publish(interval(*(SeriesKey("shop", f"op{i}") for i in range(5))))

    def dropped(families: dict[str, Any]) -> dict[str, float]:
        family = families["otel_perf_prometheus_series_dropped"]
        return {
            lab["metric"]: v
            for lab, v in samples(family, "otel_perf_prometheus_series_dropped_total")
        }

    first = scrape(exporter)
    kept = {lab["series"] for lab, _ in samples(first["otel_perf_anomaly_score"])}
    assert kept == {"s0", "s1", "s2"}
    ops = {lab["span_name"] for lab, _ in samples(first["traces_span_metrics_duration_seconds"])}
    assert ops == {"op0", "op1", "op2"}  # only three series are even held
    # two span series never held; the three held have an ok and an error calls series
    # each, and the calls counter, like every metric, shows at most three
    assert dropped(first) == {
        "otel_perf_anomaly_score": 2,
        "traces_span_metrics_duration": 2,
        "traces_span_metrics_calls": 3,
    }
    assert len(samples(first["traces_span_metrics_calls"], "traces_span_metrics_calls_total")) == 3
    # the same series stay in the next scrape; the drops add up
    scores.reverse()
    second = scrape(exporter)
    assert {lab["series"] for lab, _ in samples(second["otel_perf_anomaly_score"])} == kept
    assert dropped(second)["otel_perf_anomaly_score"] == 4


def test_resource_to_telemetry_conversion_labels_every_series(make: Any) -> None:
    rows: GaugeRows = {"otel_perf.slo.error_budget.remaining": [(0.25, SHOP)]}
    exporter = make(
        rows,
        resource_to_telemetry_conversion=True,
        resource={"deployment.environment.name": "prod"},
    )
    exporter.context.series.publish(interval(SeriesKey("shop", "GET /")))
    families = scrape(exporter)
    queue = samples(families["otel_perf_queue_size"])[0][0]
    assert queue["deployment_environment_name"] == "prod" and queue["service_name"] == "otel-perf"
    budget = samples(families["otel_perf_slo_error_budget_remaining"])[0][0]
    assert budget["service_name"] == "shop"  # the data point's own attribute wins
    span = samples(families["traces_span_metrics_calls"])[0][0]
    assert span["deployment_environment_name"] == "prod" and span["service_name"] == "shop"
    plain = make(rows)
    assert "deployment_environment_name" not in samples(scrape(plain)["otel_perf_queue_size"])[0][0]


def test_defaults_listen_on_loopback_only() -> None:
    config = PrometheusExporterConfig()
    assert config.endpoint == "127.0.0.1:9464"
    assert config.max_series_per_metric == 10_000
    assert config.resource_to_telemetry_conversion is False and config.namespace is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"namespace": "my-app"}, "namespace\n  Value error, must be a Prometheus name prefix"),
        ({"histogram_buckets": [0.1, 0.05]}, "bounds must be strictly increasing"),
        ({"histogram_buckets": [0, 1]}, "bounds must be positive finite seconds"),
        ({"endpoint": "9464"}, 'expected "host:port"'),
        ({"max_series_per_metric": 0}, "max_series_per_metric\n  Input should be greater than 0"),
        ({"port": 9464}, "port\n  Extra inputs are not permitted"),
    ],
)
def test_bad_settings_say_what_and_where(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        PrometheusExporterConfig.model_validate(settings)
    assert message in str(raised.value)


def test_a_taken_port_fails_start_with_the_endpoint(make: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        exporter = PrometheusExporter(
            Context("prometheus/x", Store(":memory:")),
            PrometheusExporterConfig(endpoint=f"127.0.0.1:{port}"),
        )
        with pytest.raises(OSError, match=f"prometheus/x: cannot listen on 127.0.0.1:{port}"):
            exporter.start()
        exporter.shutdown()


def test_shutdown_stops_listening(make: Any) -> None:
    exporter = make()
    host, port = exporter.address
    exporter.shutdown()
    exporter.shutdown()
    assert exporter.address is None
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=2)


def n_plus_one(state: State, time_ns: int, severity: Severity = Severity.WARNING) -> Finding:
    return Finding(
        kind=Kind.N_PLUS_ONE,
        severity=severity,
        service="shop",
        subject="SELECT items in GET /orders",
        time_ns=time_ns,
        summary="N+1",
        attributes={
            "fingerprint_id": "a1b2c3",
            "parent_operation": "GET /orders",
            "max_calls": 12,
            "fingerprint": "SELECT * FROM items WHERE order_id = ?",
            "saveable_ms_per_trace": 30.0,
            "occurrences": 40,
        },
        source="bottlenecks",
        state=state,
    )


def open_series(exporter: PrometheusExporter) -> list[tuple[dict[str, str], float]]:
    families = scrape(exporter)
    family = families.get("otel_perf_finding_open")
    return samples(family) if family is not None else []


def test_an_open_finding_is_one_series_until_it_resolves(make: Any) -> None:
    exporter = make()
    assert open_series(exporter) == []
    exporter.export([n_plus_one(State.OPEN, 60 * S)])
    exporter.export([n_plus_one(State.UPDATED, 120 * S, Severity.CRITICAL)])
    (labels, value), *more = open_series(exporter)
    assert not more and value == 1
    assert labels["kind"] == "n_plus_one" and labels["service"] == "shop"
    assert labels["subject"] == "SELECT items in GET /orders"
    assert labels["fingerprint_id"] == "a1b2c3" and labels["severity"] == "critical"
    assert labels["finding_key"] == n_plus_one(State.OPEN, 0).key
    families = scrape(exporter)
    # the impact: 30 ms per request x 40 per minute = 1,200 ms per minute = 1,200 points
    (impact_labels, impact), *_ = samples(families["otel_perf_finding_impact"])
    assert impact == 1200 and impact_labels["finding_key"] == labels["finding_key"]
    # the counter counts the opening, not the update
    (_, opened), *_ = samples(families["otel_perf_findings"], "otel_perf_findings_total")
    assert opened == 1

    exporter.export([n_plus_one(State.RESOLVED, 180 * S)])
    assert open_series(exporter) == []
    families = scrape(exporter)
    assert "otel_perf_finding_impact" not in families or not samples(
        families["otel_perf_finding_impact"]
    )
    (_, opened), *_ = samples(families["otel_perf_findings"], "otel_perf_findings_total")
    assert opened == 1  # nor the resolve

    exporter.export([n_plus_one(State.OPEN, 240 * S)])  # it comes back: a second opening
    assert len(open_series(exporter)) == 1
    families = scrape(exporter)
    (_, opened), *_ = samples(families["otel_perf_findings"], "otel_perf_findings_total")
    assert opened == 2


def test_open_findings_are_bounded_and_seeded_from_the_store(tmp_path: Any, make: Any) -> None:
    store = Store(tmp_path / "s.db")
    older = [n_plus_one(State.OPEN, S).model_copy(update={"subject": f"q{i}"}) for i in range(3)]
    store.add_findings(
        [*older, older[0].model_copy(update={"state": State.RESOLVED, "time_ns": 2 * S})]
    )
    config = PrometheusExporterConfig.model_validate(
        {"endpoint": "127.0.0.1:0", "max_open_findings": 3}
    )
    exporter = PrometheusExporter(Context("prometheus", store), config)
    exporter.bind_telemetry(telemetry({}))
    exporter.start()
    try:
        # what was open before the restart is published again: q1 and q2, not resolved q0
        assert sorted(lab["subject"] for lab, _ in open_series(exporter)) == ["q1", "q2"]
        exporter.export([n_plus_one(State.OPEN, 2 * S).model_copy(update={"subject": "q3"})])
        exporter.export([n_plus_one(State.OPEN, 2 * S).model_copy(update={"subject": "q4"})])
        assert len(open_series(exporter)) == 3
        dropped = scrape(exporter)["otel_perf_finding_open_dropped"]
        assert samples(dropped, "otel_perf_finding_open_dropped_total")[0][1] == 1
    finally:
        exporter.shutdown()
