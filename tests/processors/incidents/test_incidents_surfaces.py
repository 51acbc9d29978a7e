"""Incidents through the running pipeline: the REST route, the CLI and the open gauge."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from benchmarks._incident_faults import NS, downstream, release_statement
from otel_perf.api.app import API
from otel_perf.cli.commands import main
from otel_perf.config import load_config
from otel_perf.config.models import APISettings
from otel_perf.pipeline import Pipeline
from otel_perf.processors.incidents.processor import OPEN_GAUGE
from otel_perf.runtime.serving import ServerThread
from otel_perf.store import Store

CONFIG = """
receivers: {otlp: {}}
processors: {incidents: {overlap: 10m}}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [incidents]}
"""
T0 = 1_800_000_000 * NS


@pytest.fixture
def api() -> Iterator[tuple[str, Pipeline]]:
    pipe = Pipeline(load_config(text=CONFIG), Store(":memory:"), clock=lambda: T0)
    pipe.start(worker=False)
    faults = [
        release_statement("search", T0, random.Random(1)),
        downstream("pricing", ["checkout"], T0, random.Random(2)),
    ]
    # as the other processors' findings arrive: the pipeline stores each tick's findings
    pipe.store.add_findings([f for fault in faults for f in fault.findings])
    pipe.tick(T0 + 300 * NS)
    server = ServerThread(API(pipe, APISettings()).app(), "127.0.0.1", 0, "api")
    port = server.start()
    try:
        yield f"http://127.0.0.1:{port}", pipe
    finally:
        server.stop()
        pipe.shutdown()


def test_route_lists_open_incidents_with_their_cause(api: tuple[str, Pipeline]) -> None:
    url, pipe = api
    body = httpx.get(url + "/performance/incidents").json()
    causes = {i["probable_cause"]["service"]: i["probable_cause"]["kind"] for i in body["open"]}
    assert causes["search"] == "slow_query"
    assert causes["pricing"] in ("slow_request", "anomaly_detected")  # its own route's trouble
    assert set(causes) == {"search", "pricing"}
    assert body["recent"] == []
    one = body["open"][0]
    assert httpx.get(f"{url}/performance/incidents/{one['id']}").json() == one
    missing = httpx.get(url + "/performance/incidents/inc-nope")
    assert missing.status_code == 404 and "inc-nope" in missing.json()["error"]
    assert httpx.get(url + "/performance/incidents", params={"limit": "0"}).status_code == 400
    only = httpx.get(url + "/performance/incidents", params={"service": "checkout"}).json()
    assert [i["probable_cause"]["service"] for i in only["open"]] == ["pricing"]
    paths = httpx.get(url + "/performance/openapi.json").json()["paths"]
    assert "/performance/incidents/{id}" in paths
    assert [labels["incident"] for _, labels in pipe.gauges()[OPEN_GAUGE]] == [
        i["id"] for i in body["open"]
    ]


def test_cli_one_line_each_and_explain(
    api: tuple[str, Pipeline], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = api
    assert main(["incidents", "--api", url]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    search = next(line for line in lines if line.split(" ")[0] and "search:" in line)
    assert "slow query" in search and "release 2.0 coincides" in search
    assert main(["incidents", "--api", url, "-o", "json"]) == 0
    ids = [i["id"] for i in json.loads(capsys.readouterr().out)["open"]]
    assert main(["incidents", "--api", url, "--explain", ids[0]]) == 0
    chain = capsys.readouterr().out
    assert "probable cause:" in chain and "explained" in chain and "first signal" in chain


CHROMIUM = Path("/usr/bin/chromium")


def test_dashboard_lists_incidents_first_with_their_timeline(api: tuple[str, Pipeline]) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (.ci/services.sh installs it)")
    from playwright.sync_api import sync_playwright

    url, _ = api
    body = httpx.get(url + "/performance/incidents").json()
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/dashboard?refresh=0")
        page.wait_for_selector("[data-testid=incident]")
        cards = page.locator("[data-testid=incident]")
        assert cards.count() == len(body["open"]) == 2
        text = cards.first.inner_text()
        assert body["open"][0]["title"] in text and body["open"][0]["action"] in text
        members = page.locator("[data-testid=incident-timeline]").first.locator("li")
        assert members.count() == len(body["open"][0]["members"])
        first = page.locator("main > section:not([hidden])").first.get_attribute("id")
        browser.close()
    assert first == "incidents"
    assert errors == []


def test_the_embedded_default_runs_incidents_last_on_traces() -> None:
    config = load_config()
    traces = config.service.pipelines["traces"].processors
    assert traces[-1] == "incidents"  # after every processor whose findings it groups
    assert "incidents" in config.processors
    store = Store(":memory:")
    pipe = Pipeline(config, store, clock=lambda: T0)
    assert pipe.snapshot("incidents")["incidents"]["open"] == []
    store.close()
