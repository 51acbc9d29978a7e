"""End to end: the dashboard in real headless Chromium over a replayed scenario.

Three days of a shop's telemetry are replayed on event time through the real pipeline
(spans of the shop scenario every three hours, the product lookup slow on the last day; CPU
utilization with a daily cycle and a rising trend; a queue depth that jumps at the end). The
real API is served by uvicorn on loopback and Debian's Chromium, driven by Playwright,
opens ``/dashboard``: what to do (recommendations, open findings) is above the fold, every
recorded resource is listed in its unit, burn rates share one log scale, the SLO burn-down
and the forecast charts render, the numbers match the API, nothing fails in the console or
on the network, and a screenshot is kept in ``build/artifacts/dashboard.png``. With auth on,
the page asks for the token and then loads.
"""

from __future__ import annotations

import json
import math
import random
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e import RECEIVERS, http_status, poll, start_instrumented_app, start_sidecar, wait_app
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from otlp_builders import BASE_NS, kv
from ports import free_port
from scenarios import generate

from otel_perf.api.app import API
from otel_perf.config import load_config
from otel_perf.config.models import APISettings
from otel_perf.decode import message_to_json
from otel_perf.pipeline import Pipeline
from otel_perf.runtime.serving import ServerThread
from otel_perf.sidecar.replay import ReplayReport, replay
from otel_perf.store import Store

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[1]
ARTIFACTS = ROOT / "build" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TOKEN = "dashboard-test-token"

S = 1_000_000_000
STEP_NS = 600 * S  # one metrics sample every 10 minutes of event time
STEPS_PER_DAY = 144
DAYS = 3
START_NS = BASE_NS - DAYS * 86_400 * S
SPIKE_STEPS = 2  # the queue depth jumps in the last samples: an open anomaly episode

CONFIG = """
receivers: {otlp: {}}
processors:
  spanmetrics: {}
  bottlenecks: {slow_request_threshold: 500ms}
  slo:
    defaults: {enabled: false}
    objectives:
      - name: checkout-latency
        service: checkout
        latency: {p99: 400ms}
  anomaly:
    include: ["metric:queue.depth*"]
    warm_up: 100
  regression: {}
  capacity: {forecast_interval: 1d, min_history: 1d, forecast_window: 7d}
  instrumentation: {}
service:
  tick_interval: 10m
  pipelines:
    traces:
      receivers: [otlp]
      processors: [spanmetrics, bottlenecks, slo, regression, capacity, instrumentation]
    metrics: {receivers: [otlp], processors: [anomaly, capacity, instrumentation]}
"""


def cpu_utilization(step: int) -> float:
    """A daily cycle (peak in the afternoon) on a level rising 4 points a day."""
    hours = step * STEP_NS / S / 3600
    return 0.35 + 0.04 * hours / 24 + 0.12 * math.sin(2 * math.pi * (hours - 8) / 24)


def metrics_line(step: int, rng: random.Random) -> dict[str, Any]:
    t_ns = START_NS + step * STEP_NS
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.append(kv("service.name", "checkout"))
    scope = rm.scope_metrics.add()
    cpu = scope.metrics.add()
    cpu.name, cpu.unit = "system.cpu.utilization", "1"
    busy = cpu_utilization(step) + rng.gauss(0, 0.01)
    for state, value in (("user", busy), ("idle", 1 - busy)):
        dp = cpu.gauge.data_points.add()
        dp.time_unix_nano, dp.as_double = t_ns, value
        dp.attributes.extend([kv("cpu", "0"), kv("state", state)])
    depth = scope.metrics.add()
    depth.name = "queue.depth"
    dp = depth.gauge.data_points.add()
    spike = step >= DAYS * STEPS_PER_DAY - SPIKE_STEPS
    dp.time_unix_nano, dp.as_double = t_ns, 160.0 if spike else 20 + rng.gauss(0, 2)
    return message_to_json(request)


def build_recording(tmp_path: Path) -> Path:
    """The scenario as OTLP JSON lines in event-time order (what the file exporter writes)."""
    rng = random.Random(11)
    lines: list[str] = []
    for step in range(DAYS * STEPS_PER_DAY):
        lines.append(json.dumps(metrics_line(step, rng)))
        if step % 18 == 9:  # 30 shop traces every three hours; the last day is slow
            slow = step >= (DAYS - 1) * STEPS_PER_DAY
            traffic = generate(
                "slow_query" if slow else None,
                traces=30,
                start_ns=START_NS + step * STEP_NS,
                seed=step,
            )
            lines += [
                json.dumps(message_to_json(ExportTraceServiceRequest.FromString(raw)))
                for raw in traffic.requests
            ]
    path = tmp_path / "shop.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def make_pipeline(tmp_path: Path, recording: Path) -> tuple[Pipeline, ReplayReport]:
    """A pipeline holding the replayed scenario (worker off: the replay drives it)."""
    config = load_config(text=CONFIG)
    end_ns = START_NS + DAYS * 86_400 * S
    pipeline = Pipeline(config, Store(str(tmp_path / "store.db")), clock=lambda: end_ns)
    pipeline.start(worker=False)
    report = replay(pipeline, [recording])
    return pipeline, report


@dataclass
class Served:
    """The API over the scenario's pipeline, on a free loopback port."""

    base: str
    pipeline: Pipeline

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base + path, timeout=10) as response:
            return json.load(response)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    tmp_path = tmp_path_factory.mktemp("dashboard")
    pipeline, report = make_pipeline(tmp_path, build_recording(tmp_path))
    assert not report.errors and report.rejected == 0, report.errors
    yield pipeline
    pipeline.shutdown()


def serve(pipeline: Pipeline, token: str | None = None) -> tuple[Served, ServerThread]:
    auth = {"bearer_token": token} if token else None
    settings = APISettings.model_validate({"endpoint": "127.0.0.1:0", "auth": auth})
    server = ServerThread(API(pipeline, settings).app(), "127.0.0.1", 0, "dashboard-api")
    port = server.start()
    return Served(f"http://127.0.0.1:{port}", pipeline), server


@pytest.fixture(scope="module")
def api(scenario: Pipeline) -> Iterator[Served]:
    served, server = serve(scenario)
    yield served
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (.ci/services.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Watched:
    """What a page reported: console errors, uncaught exceptions, failed and 4xx/5xx loads."""

    console_errors: list[str]
    page_errors: list[str]
    failed: list[str]
    bad_status: list[str]


def watch(page: Any) -> Watched:
    seen = Watched([], [], [], [])
    page.on("console", lambda m: m.type == "error" and seen.console_errors.append(m.text))
    page.on("pageerror", lambda e: seen.page_errors.append(str(e)))
    page.on("requestfailed", lambda r: seen.failed.append(f"{r.url}: {r.failure}"))
    page.on("response", lambda r: r.status >= 400 and seen.bad_status.append(f"{r.status} {r.url}"))
    return seen


def percent(value: float) -> str:
    """The page's budget format: ``(v * 100).toFixed(1) + " %"``."""
    return f"{value * 100:.1f} %"


def test_dashboard_shows_the_replayed_scenario(api: Served, browser: Any) -> None:
    slo = api.get("/performance/slo")["objectives"][0]
    assert slo["budget"]["exhausted"] and len(slo["budget_history"]) > 20
    assert slo["budget_history"][0]["error_budget_remaining"] == 1.0  # clean first two days
    capacity = api.get("/performance/capacity/dashboard")["resources"]
    cpu = capacity["checkout/system.cpu.utilization"]
    assert cpu["forecast"] is not None, cpu["reason"]

    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    seen = watch(page)
    response = page.goto(api.base + "/?refresh=2")
    assert response is not None and response.url == api.base + "/dashboard?refresh=2"
    assert "default-src 'self'" in response.headers["content-security-policy"]

    page.wait_for_selector("[data-testid=recommendations-table] tbody tr", timeout=15_000)
    above_the_fold(page, api)
    page.click(f"[data-testid=slo-card][data-objective='{slo['name']}'] summary")
    page.wait_for_selector("[data-testid=slo-chart] path.line", timeout=15_000)
    # the CPU card's band (another resource's may be flat: a constant series has no spread)
    page.wait_for_selector(
        "[data-testid=capacity-card][data-resource='checkout/system.cpu.utilization'] "
        "[data-testid=forecast-chart] path.band",
        timeout=15_000,
    )
    page.wait_for_selector("[data-testid=anomaly-chart] path.line", timeout=15_000)
    page.wait_for_selector("[data-testid=bottleneck-chart] rect.bar", timeout=15_000)
    page.wait_for_selector("[data-testid=critical-path] rect.seg", timeout=15_000)

    card = page.locator(f"[data-testid=slo-card][data-objective='{slo['name']}']")
    assert slo["name"] in card.inner_text()
    remaining = card.locator("[data-testid=budget-remaining]").inner_text()
    assert remaining == percent(slo["budget"]["error_budget_remaining"])
    # one point per budget_history entry, the threshold at 0 (budget exhausted) drawn
    path = card.locator("[data-testid=slo-chart] path.line").get_attribute("d") or ""
    assert len(re.findall(r"[ML]", path)) == len(slo["budget_history"])
    assert card.locator("[data-testid=slo-chart] .threshold").count() == 1

    burn_bars_on_one_log_scale(card, slo)
    recorded_usage_listed(page, capacity)

    forecast = page.locator(
        "[data-testid=capacity-card][data-resource='checkout/system.cpu.utilization']"
    )
    assert forecast.locator(".threshold-label").text_content() == "threshold 70%"
    points = api.get("/performance/capacity/forecast/checkout/system.cpu.utilization?horizon=7d")
    chart = forecast.locator("[data-testid=forecast-chart]")
    mean = chart.locator("path.line.forecast").get_attribute("d") or ""
    assert len(re.findall(r"[ML]", mean)) == len(points["points"])
    past = chart.locator("path.line.usage").get_attribute("d") or ""  # recorded usage first
    assert points["history"] and len(re.findall(r"[ML]", past)) == len(points["history"])

    anomaly = page.locator("[data-testid=anomaly-card]").first
    assert "metric:queue.depth{checkout}" in anomaly.inner_text()
    # one point per entry of the processor's history, the band drawn under it
    (episode,) = api.get("/performance/anomalies")["processors"]["anomaly"]["open_episodes"]
    assert episode["series"] == "metric:queue.depth{checkout}"
    assert len(episode["history"]) == 120  # history_points' default: a full ring buffer
    assert episode["history"][-1]["value"] == 160.0  # the spike, the last point scored
    line = anomaly.locator("[data-testid=anomaly-chart] path.line").get_attribute("d") or ""
    assert len(re.findall(r"[ML]", line)) == len(episode["history"])
    assert anomaly.locator("[data-testid=anomaly-chart] path.band").count() == 1
    assert anomaly.locator("[data-testid=anomaly-gauge]").count() == 1
    instrumentation = page.locator("[data-testid=instrumentation-table] tbody tr")
    shown = {row.locator("td").first.inner_text() for row in instrumentation.all()}
    services = api.get("/performance/metrics")["instrumentation"]["services"]
    assert shown == set(services) and {"checkout", "frontend"} <= shown
    for text in page.locator("[data-testid=empty]").all_inner_texts():
        assert len(text) > 40, f"an empty state that does not say why or when: {text!r}"
    assert page.locator("[data-testid=section-regression]").is_visible()
    assert page.locator("[data-testid=section-cache]").is_hidden()  # no cache processor
    assert page.locator("[data-testid=status]").inner_text() == "degraded"

    # live refresh: the next poll comes, and an unchanged SLO chart is left in place
    chart = page.locator("[data-testid=slo-chart]").element_handle()
    with page.expect_request(lambda r: r.url.endswith("/performance/slo"), timeout=6_000):
        pass
    page.wait_for_load_state("networkidle")
    assert chart is not None and chart.evaluate("node => node.isConnected")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "dashboard-fold.png"))  # the first 1000 px
    log_scale_separates_a_thousandth_from_fourteen(page)
    assert seen == Watched([], [], [], []), seen
    page.close()


def above_the_fold(page: Any, api: Served) -> None:
    """What to do comes first: the recommendations' first rows and the open findings start
    within the first 900 px, above the SLOs."""
    recommendations = api.get("/performance/recommendations")["recommendations"]
    rows = page.locator("[data-testid=recommendations-table] tbody tr")
    assert rows.count() == min(len(recommendations), 8) > 0
    first = rows.first.bounding_box()
    assert first is not None and first["y"] + first["height"] <= 900, first
    assert recommendations[0]["action"] in rows.first.inner_text()
    sections = [
        page.locator(f"[data-testid=section-{name}]").bounding_box()
        for name in ("recommendations", "findings", "slo")
    ]
    assert all(box is not None for box in sections)
    assert [box["y"] for box in sections if box] == sorted(box["y"] for box in sections if box)
    findings = page.locator("[data-testid=findings-table]").inner_text()
    assert "anomaly" in findings and "slow query" in findings


def burn_bars_on_one_log_scale(card: Any, slo: dict[str, Any]) -> None:
    """Each alert window's bar is as long as its burn rate on the shared log axis, with the
    rule's threshold marked: a larger burn rate draws a longer bar, equal ones equal bars."""
    chart = card.locator("[data-testid=burn-chart]")
    bars = chart.locator("rect.bar")
    values = [r[side]["burn_rate"] for r in slo["rules"] for side in ("long", "short")]
    assert bars.count() == len(values)
    widths = [float(bars.nth(i).get_attribute("width") or 0) for i in range(len(values))]
    ranked = sorted(zip(values, widths, strict=True))
    for (v1, w1), (v2, w2) in zip(ranked, ranked[1:], strict=False):
        assert (w1 < w2) if v1 < v2 and v2 > 1e-4 else w1 <= w2, (values, widths)
    marks = chart.locator("line.threshold-mark")
    assert marks.count() == len(values)
    thresholds = [
        float(marks.nth(i).get_attribute("data-threshold") or 0) for i in range(len(values))
    ]
    assert thresholds == [r["threshold"] for r in slo["rules"] for _ in ("long", "short")]


def recorded_usage_listed(page: Any, capacity: dict[str, Any]) -> None:
    """Every recorded resource is listed at once, in its unit, forecast or not."""
    rows = page.locator("[data-testid=capacity-usage] tbody tr")
    listed = {
        rows.nth(i).locator("td").first.inner_text(): rows.nth(i) for i in range(rows.count())
    }
    assert set(listed) == set(capacity)
    cpu = listed["checkout/system.cpu.utilization"].inner_text()
    assert " %" in cpu and "e+" not in cpu  # a utilization, with its right-size target in %
    assert " /s" in listed["checkout/request.rate"].inner_text()


def log_scale_separates_a_thousandth_from_fourteen(page: Any) -> None:
    """The page's own burn-bar renderer, given 0.001× and 14×: two visibly different bars
    (on a scale fitted to the largest value both were full width)."""
    widths = page.evaluate(
        """async () => {
            const { burnBars } = await import("/dashboard/slo.js");
            const svg = burnBars([{ severity: "page", threshold: 14.4,
                long: { window: "1h", burn_rate: 0.001 },
                short: { window: "5m", burn_rate: 14 } }]);
            const bars = [...svg.querySelectorAll("rect.bar")];
            return bars.map((r) => Number(r.getAttribute("width")));
        }"""
    )
    small, large = widths
    assert small > 1 and large > 4 * small, widths


def test_dashboard_asks_for_the_token_when_auth_is_on(scenario: Pipeline, browser: Any) -> None:
    served, server = serve(scenario, TOKEN)
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            served.get("/performance/slo")
        assert refused.value.code == 401
        refused.value.close()
        context = browser.new_context()
        page = context.new_page()
        seen = watch(page)
        response = page.goto(served.base + "/dashboard")
        assert response is not None and response.status == 200  # the page needs no token
        form = page.locator("[data-testid=token-form]")
        form.wait_for(state="visible", timeout=10_000)
        assert page.locator("[data-testid=section-slo]").is_hidden()

        page.fill("[data-testid=token-input]", "not-the-token")
        page.click("[data-testid=token-save]")
        page.wait_for_selector("[data-testid=token-error]:has-text('refused')", timeout=10_000)

        page.fill("[data-testid=token-input]", TOKEN)
        page.click("[data-testid=token-save]")
        page.wait_for_selector("[data-testid=slo-card] [data-testid=budget-remaining]")
        assert form.is_hidden()
        assert page.evaluate("sessionStorage.getItem('otel-perf-token')") == TOKEN
        # every refusal was a data route answering 401 before the right token was given
        assert seen.page_errors == [] and seen.failed == []
        assert seen.bad_status and all(s.startswith("401 ") for s in seen.bad_status)
        assert not any("/dashboard" in s for s in seen.bad_status)
        assert all("401" in e for e in seen.console_errors), seen.console_errors
        context.close()
    finally:
        server.stop()


def test_page_and_assets_are_open_with_a_csp_and_data_stays_behind_the_token(
    scenario: Pipeline,
) -> None:
    served, server = serve(scenario, TOKEN)
    try:
        for name, kind in (
            ("", "text/html"),
            ("/app.js", "text/javascript"),
            ("/app.css", "text/css"),
            ("/favicon.svg", "image/svg+xml"),
        ):
            with urllib.request.urlopen(f"{served.base}/dashboard{name}", timeout=10) as r:
                assert r.status == 200 and r.headers["Content-Type"].startswith(kind)
                assert r.headers["Content-Security-Policy"].startswith("default-src 'self'")
        html = (ROOT / "otel_perf/dashboard/static/index.html").read_text()
        assert "<script>" not in html and "style=" not in html  # nothing inline for the CSP
        for path in ("/dashboard/secrets.txt", "/dashboard/../otel_perf/api/app.py"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(served.base + path, timeout=10)
            assert refused.value.code in (401, 404)
            refused.value.close()
    finally:
        server.stop()


FIRST_MINUTES = """
receivers: {otlp: {}}
processors:
  spanmetrics: {}
  slo: {}
  capacity: {}
  instrumentation: {}
service:
  tick_interval: 10s
  pipelines:
    traces: {receivers: [otlp], processors: [spanmetrics, slo, capacity, instrumentation]}
    metrics: {receivers: [otlp], processors: [capacity, instrumentation]}
"""


def first_minutes(tmp_path: Path) -> tuple[Pipeline, int]:
    """Three minutes of CPU samples and a few seconds of shop traffic, default settings."""
    rng = random.Random(3)
    lines = []
    for step in range(18):
        line = metrics_line(0, rng)
        for point in line["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["gauge"][
            "dataPoints"
        ]:
            point["timeUnixNano"] = str(BASE_NS + step * 10 * S)
        line["resourceMetrics"][0]["scopeMetrics"][0]["metrics"].pop()  # CPU only
        lines.append(json.dumps(line))
    traffic = generate(None, traces=60, start_ns=BASE_NS, seed=5)
    lines += [
        json.dumps(message_to_json(ExportTraceServiceRequest.FromString(raw)))
        for raw in traffic.requests
    ]
    recording = tmp_path / "first.jsonl"
    recording.write_text("\n".join(lines) + "\n")
    end_ns = BASE_NS + 180 * S
    pipeline = Pipeline(
        load_config(text=FIRST_MINUTES), Store(str(tmp_path / "first.db")), clock=lambda: end_ns
    )
    pipeline.start(worker=False)
    report = replay(pipeline, [recording])
    assert not report.errors and report.rejected == 0, report.errors
    return pipeline, end_ns


def test_the_first_minutes_list_usage_and_say_when_forecasts_start(
    tmp_path: Path, browser: Any
) -> None:
    pipeline, _ = first_minutes(tmp_path)
    served, server = serve(pipeline)
    try:
        resources = served.get("/performance/capacity/dashboard")["resources"]
        assert resources and not any(r["forecast"] for r in resources.values())
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        seen = watch(page)
        page.goto(served.base + "/dashboard?refresh=0")
        page.wait_for_selector("[data-testid=capacity-usage] tbody tr", timeout=15_000)
        rows = page.locator("[data-testid=capacity-usage] tbody tr")
        assert rows.count() == len(resources)  # listed at once, not only once forecast
        for text in rows.all_inner_texts():
            assert "starts in" in text and "needs 6.0 h of history" in text
        capacity = page.locator("[data-testid=section-capacity]").inner_text()
        assert "No forecasts yet: they need 6.0 h of history" in capacity
        instrumentation = page.locator("[data-testid=instrumentation-table]").inner_text()
        assert "checkout" in instrumentation and "ok client, DB or messaging spans arrive" in (
            instrumentation
        )
        page.wait_for_selector("[data-testid=section-recommendations] .body > *")
        box = page.locator("[data-testid=section-recommendations]").bounding_box()
        assert box is not None and box["y"] < 900
        for text in page.locator("[data-testid=empty]").all_inner_texts():
            assert len(text) > 40, f"an empty state that does not say why or when: {text!r}"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-first-minutes.png"), full_page=True)
        assert seen == Watched([], [], [], []), seen
        page.close()
    finally:
        server.stop()
        pipeline.shutdown()


APP_CONFIG = (
    RECEIVERS
    + """\
  hostmetrics: {{collection_interval: 1s, filesystem_path: "{tmp}"}}
processors:
  spanmetrics: {{}}
  bottlenecks: {{trace_quiet_time: 1s, evaluation_interval: 2s, min_traces: 1,
                n_plus_one_min_total: 0s}}
  slo: {{}}
  capacity: {{}}
  instrumentation: {{}}
extensions:
  api: {{endpoint: "127.0.0.1:{api}"}}
service:
  extensions: [api]
  tick_interval: 200ms
  pipelines:
    traces: {{receivers: [otlp], processors: [spanmetrics, bottlenecks, slo, capacity,
                                              instrumentation]}}
    metrics: {{receivers: [otlp, hostmetrics], processors: [capacity, instrumentation]}}
"""
)


def test_the_example_apps_traffic_leads_with_what_to_do(tmp_path: Path, browser: Any) -> None:
    """examples/sqlite_app.py under opentelemetry-instrument sends its traces to a real
    sidecar (host metrics on): its N+1 is the first thing the page shows, within 900 px,
    and the capacity panel lists every resource recorded so far, none forecast yet."""
    sidecar = start_sidecar(tmp_path, APP_CONFIG)
    try:
        port = free_port()
        app = start_instrumented_app(
            "sqlite_app",
            sidecar,
            port,
            tmp_path / "app.log",
            OTEL_SERVICE_NAME="library",
            SQLITE_APP_DB=str(tmp_path / "library.db"),
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_app(f"{base}/fast", app, tmp_path / "app.log")
            statuses = [http_status(f"{base}/authors/{a}/books") for a in (1, 2, 1)]
            statuses += [http_status(f"{base}/fast") for _ in range(5)]
            assert statuses == [200] * 8
        finally:
            app.terminate()  # SIGTERM: the SDK flushes its span processor on exit
            app.wait(30)
        poll(
            lambda: sidecar.get("/performance/recommendations")["recommendations"],
            lambda items: any("N+1" in item["action"] for item in items),
            timeout=60,
        )
        resources = poll(
            lambda: sidecar.get("/performance/capacity/dashboard")["resources"],
            lambda found: (
                "library/request.rate" in found
                and any(name.endswith("system.cpu.utilization") for name in found)
            ),
            timeout=60,
        )
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        seen = watch(page)
        page.goto(f"http://127.0.0.1:{sidecar.api}/dashboard?refresh=0")
        rows = page.locator("[data-testid=recommendations-table] tbody tr")
        rows.first.wait_for(timeout=15_000)
        n_plus_one = page.locator(
            "[data-testid=recommendations-table] tbody tr", has_text="N+1"
        ).first
        box = n_plus_one.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 900, box
        page.wait_for_selector("[data-testid=capacity-usage] tbody tr", timeout=15_000)
        listed = {
            cells.split("\t")[0]
            for cells in page.locator("[data-testid=capacity-usage] tbody tr").all_inner_texts()
        }
        later = sidecar.get("/performance/capacity/dashboard")["resources"]
        assert set(resources) <= listed <= set(later)  # all of them, none forecast yet
        assert (
            "No forecasts yet: they need 6.0 h of history"
            in page.locator("[data-testid=section-capacity]").inner_text()
        )
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-example-app.png"), full_page=True)
        assert seen == Watched([], [], [], []), seen
        page.close()
    finally:
        assert sidecar.stop() == 0, sidecar.log()
