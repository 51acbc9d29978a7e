"""deploy/: the Prometheus rules load in promtool, and every metric the rules and the Grafana
dashboard query is one otel-perf exports (names collected by scraping a real exporter fed
every registered gauge, span metrics and a finding; no hand-kept list)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from otel_perf.component import Context, gauges, processor_types
from otel_perf.exporters.prometheus import PrometheusExporter, PrometheusExporterConfig
from otel_perf.findings import Finding, Kind, Severity
from otel_perf.series import RED, SeriesInterval, SeriesKey
from otel_perf.store import Store
from otel_perf.telemetry import Telemetry

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "otel-perf.rules.yml"
SCRAPE_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "otel-perf-dashboard.json"
#: series Prometheus itself makes for every target
PROMETHEUS_OWN = {"up"}
KEYWORDS = {"and", "or", "unless", "offset", "bool", "inf", "nan", "atan2"}
SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gauge": ("",),
    "info": ("_info",),
}


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool not found: run .ci/services.sh (Debian package prometheus)"
    return path


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, labels, keywords left out)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\$\{?\w+\}?", "", expr)  # Grafana variables
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        word, before = match.group(), expr[: match.start()]
        if before and (before[-1].isdigit() or before[-1] == "."):
            continue  # the exponent or unit of a number: 1e3, 5m
        if expr[match.end() :].lstrip().startswith("(") or word in KEYWORDS:
            continue
        names.add(word)
    return names


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    document = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in document["panels"] for t in p.get("targets", [])]
    for variable in document["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            exprs.append(query["query"])
    return exprs


def variable_query_names(expr: str) -> set[str]:
    match = re.fullmatch(r"label_values\((\w+),\s*\w+\)", expr)
    return {match.group(1)} if match else metric_names(expr)


@pytest.fixture(scope="module")
def exported() -> Iterator[set[str]]:
    """Every sample name a prometheus exporter serves with all processors loaded."""
    processor_types()  # processors register their gauge names at import
    rows = {g.name: [(1.0, {"service.name": "shop"})] for g in gauges.registered()}
    telemetry = Telemetry()
    telemetry.gauge_source = lambda: rows
    telemetry.processing_batches["slo"] = 1
    config = PrometheusExporterConfig(endpoint="127.0.0.1:0")
    exporter = PrometheusExporter(Context("prometheus", Store(":memory:")), config)
    exporter.bind_telemetry(telemetry)
    exporter.start()
    try:
        red = RED(3, 1)
        red.duration_s.record_many([0.1, 0.2, 0.3])
        exporter.context.series.publish(SeriesInterval(0, 10, 10, {SeriesKey("shop", "GET"): red}))
        exporter.export(
            [
                Finding(
                    kind=Kind.RECOMMENDATION,
                    severity=Severity.INFO,
                    service="shop",
                    subject="x",
                    time_ns=1,
                    summary="y",
                )
            ]  # fmt: skip
        )
        assert exporter.address is not None
        host, port = exporter.address
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    finally:
        exporter.shutdown()
    yield {
        family.name + suffix
        for family in text_string_to_metric_families(text)
        for suffix in SUFFIXES.get(family.type, ("",))
    }


def test_rules_load_in_promtool() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_example_scrape_config_is_valid() -> None:
    result = subprocess.run(
        [promtool(), "check", "config", str(SCRAPE_CONFIG)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_metric_the_rules_use_is_exported(exported: set[str]) -> None:
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    used = set().union(*(metric_names(rule["expr"]) for rule in rules()))
    assert {"otel_perf_slo_burn_rate", "otel_perf_anomaly_score"} <= used
    assert {"traces_span_metrics_duration_seconds_bucket"} <= used
    unknown = used - exported - recorded - PROMETHEUS_OWN
    assert not unknown, f"rules use metrics otel-perf does not export: {sorted(unknown)}"
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    assert {
        "OtelPerfErrorBudgetBurnFast",
        "OtelPerfAnomalyScoreHigh",
        "OtelPerfQueueFull",
    } <= alerts


def test_every_metric_the_dashboard_uses_is_exported(exported: set[str]) -> None:
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    used = set().union(*(variable_query_names(e) for e in dashboard_exprs()))
    unknown = used - exported - recorded - PROMETHEUS_OWN
    assert not unknown, f"the dashboard queries metrics nobody exports: {sorted(unknown)}"
    for wanted in (
        "otel_perf_slo_error_budget_remaining",
        "otel_perf_slo_burn_rate",
        "otel_perf_anomaly_score",
        "otel_perf_capacity_forecast_upper",
        "service_operation:traces_span_metrics_duration_seconds:rate5m",
    ):
        assert wanted in used, f"no panel shows {wanted}"


def test_the_name_check_catches_a_wrong_name(exported: set[str]) -> None:
    expr = 'sum by (service_name) (rate(otel_perf_slo_burnrate{window="1h"}[5m])) > 1e3'
    assert metric_names(expr) == {"otel_perf_slo_burnrate"}
    assert metric_names(expr) - exported == {"otel_perf_slo_burnrate"}


def test_dashboard_is_grafana_json() -> None:
    document = json.loads(DASHBOARD.read_text())
    assert isinstance(document["schemaVersion"], int) and document["uid"] == "otel-perf"
    panels = document["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    variables = {v["name"] for v in document["templating"]["list"]}
    assert {"datasource", "service"} <= variables
    for panel in panels:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"])
