"""The capacity routes and ``otel-perf capacity`` over a served API."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import yaml

from otel_perf.api.app import API
from otel_perf.cli.commands import main
from otel_perf.config import load_config
from otel_perf.config.models import APISettings
from otel_perf.pipeline import Pipeline
from otel_perf.processors.capacity.processor import CapacityProcessor
from otel_perf.runtime.serving import ServerThread
from otel_perf.store import Store

CONFIG = """
receivers: {otlp: {}}
processors:
  capacity:
    thresholds: {cpu: [0.7]}
    replicas: {web: {count: 3}}
service:
  pipelines:
    metrics: {receivers: [otlp], processors: [capacity]}
"""
NS = 1_000_000_000
T0 = 1_700_000_000  # a Tuesday, 22:13 UTC
RESOURCE = "web/system.cpu.utilization"


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    """21 days of hourly CPU utilisation per pod: a daily cycle on a slow upward trend."""
    pipe = Pipeline(load_config(text=CONFIG), Store(":memory:"), clock=lambda: 1)
    pipe.start(worker=False)
    (processor,) = pipe.processors.values()
    assert isinstance(processor, CapacityProcessor)
    rng = np.random.default_rng(7)
    hours = 21 * 24
    for h in range(hours):
        value = 0.35 + 0.0004 * h + 0.15 * math.sin(2 * math.pi * h / 24) + rng.normal(0, 0.01)
        t_ns = (T0 + h * 3600) * NS
        processor.record_usage(RESOURCE, value, t_ns, service="web", kind="cpu", unit="1")
    pipe.tick((T0 + hours * 3600) * NS)
    server = ServerThread(API(pipe, APISettings()).app(), "127.0.0.1", 0, "api")
    port = server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        pipe.shutdown()


def test_dashboard_lists_the_resource_with_its_daily_season(api_url: str) -> None:
    body = httpx.get(f"{api_url}/performance/capacity/dashboard").json()
    entry = body["resources"][RESOURCE]
    assert entry["service"] == "web" and entry["kind"] == "cpu"
    assert [s["period_s"] for s in entry["seasons"]] == [86_400.0]
    assert entry["trend"] == "up"


def test_forecast_route_gives_points_with_an_interval_and_the_crossing(api_url: str) -> None:
    resource = RESOURCE.replace("/", "%2F")
    body = httpx.get(
        f"{api_url}/performance/capacity/forecast/{resource}", params={"horizon": "2d"}
    ).json()
    points = body["points"]
    assert len(points) == 48  # hourly buckets over two days
    assert all(p["lower"] <= p["mean"] <= p["upper"] for p in points)
    (crossing,) = body["thresholds"]
    assert crossing["threshold"] == 0.7 and crossing["crosses"]


def test_forecast_route_errors_name_what_was_wrong(api_url: str) -> None:
    missing = httpx.get(f"{api_url}/performance/capacity/forecast/nope")
    assert missing.status_code == 404 and '"nope"' in missing.json()["error"]
    bad = httpx.get(
        f"{api_url}/performance/capacity/forecast/{RESOURCE}", params={"horizon": "soon"}
    )
    assert bad.status_code == 400 and bad.json()["error"].startswith("horizon:")


def test_autoscaling_config_is_applicable_yaml_following_the_hpa_formula(api_url: str) -> None:
    body = {"resource": RESOURCE, "target_utilization": 60, "max_replicas": 20}
    answer = httpx.post(f"{api_url}/performance/capacity/autoscaling-config", json=body)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    hpa = yaml.safe_load(data["hpa_yaml"])
    assert hpa["apiVersion"] == "autoscaling/v2" and hpa["kind"] == "HorizontalPodAutoscaler"
    assert hpa["spec"]["maxReplicas"] == 20
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["target"]["averageUtilization"] == 60
    keda = yaml.safe_load(data["keda_yaml"])
    assert keda["kind"] == "ScaledObject" and keda["spec"]["maxReplicaCount"] == 20
    plan = data["plan"]
    # desired = ceil(current × current utilisation / target), three replicas configured
    assert plan["current_replicas"] == 3 and 40 < plan["current_utilization"] < 70
    ratio = plan["current_utilization"] / 60
    expected = 3 if abs(ratio - 1) <= 0.1 else math.ceil(3 * ratio)  # the HPA's 10 % tolerance
    assert plan["current_desired"] == expected
    assert plan["min_replicas"] == math.ceil(plan["trough_demand"] / 0.6)
    assert data["schedule"] and all(row["replicas"] >= 1 for row in data["schedule"])


def test_autoscaling_config_rejects_a_bad_body_naming_the_field(api_url: str) -> None:
    url = f"{api_url}/performance/capacity/autoscaling-config"
    bad = httpx.post(url, json={"resource": RESOURCE, "target_utilization": 150})
    assert bad.status_code == 400 and "target_utilization" in bad.json()["error"]
    assert httpx.post(url, content=b"{").status_code == 400
    missing = httpx.post(url, json={"resource": "web/nope.cpu", "service": "web"})
    assert missing.status_code == 404


def test_cli_dashboard_forecast_and_autoscaling(
    api_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "140")  # a terminal wide enough for the rows not to wrap
    assert main(["capacity", "--dashboard", "--api", api_url]) == 0
    out = capsys.readouterr().out
    assert RESOURCE in out and "70% in" in out
    assert main(["capacity", "forecast", RESOURCE, "--horizon", "1d", "--api", api_url]) == 0
    assert "70% in" in capsys.readouterr().out  # the crossing, in days
    assert main(["capacity", "forecast", RESOURCE, "-o", "json", "--api", api_url]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == RESOURCE
    args = ["capacity", "autoscaling", RESOURCE, "--target", "70", "--format", "hpa"]
    assert main([*args, "--api", api_url]) == 0
    documents = capsys.readouterr().out.split("Expected replicas")[0]
    assert yaml.safe_load(documents)["spec"]["metrics"][0]["resource"]["name"] == "cpu"
