"""End to end: a real Prometheus (Debian's package, on loopback, with a config written here
and otel-perf's rules loaded) scrapes the prometheus exporter of a pipeline that replayed a
recording; PromQL through Prometheus' HTTP API returns the SLO budget, burn rates and anomaly
score otel-perf computed.

The recording: 4 000 requests to ``shop``, 3 of them errors, against a 99.9 % availability
objective: the budget allows 4 bad requests, 3 are spent, so 25 % remains and every burn-rate
window (all of them hold every request) burns at (3 / 4 000) / 0.001 = 0.75. A gauge that
holds steady and then jumps (its last point) gives a high anomaly score, which Prometheus must
return as otel-perf's anomaly processor computed it.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import textwrap
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from otlp_builders import BASE_NS, kv, trace_request
from ports import free_port

from otel_perf.config import load_config
from otel_perf.decode import message_to_json
from otel_perf.pipeline import Pipeline
from otel_perf.sidecar.replay import replay
from otel_perf.store import Store

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "otel-perf.rules.yml"
REQUESTS, ERRORS, BATCHES = 4_000, 3, 8
BUDGET_REMAINING = 1 - ERRORS / (REQUESTS * 0.001)
BURN_RATE = (ERRORS / REQUESTS) / 0.001
S = 1_000_000_000

CONFIG = """
receivers: {{otlp: {{}}}}
processors:
  slo:
    defaults: {{enabled: false}}
    objectives:
      - {{name: shop-availability, service: shop, availability: 0.999}}
    min_events: 0
    evaluation_interval: 1s
  anomaly: {{warm_up: 40, include: ["metric:queue.depth*"]}}
exporters:
  prometheus: {{endpoint: "127.0.0.1:{port}"}}
service:
  tick_interval: 1s
  pipelines:
    traces: {{receivers: [otlp], processors: [slo], exporters: [prometheus]}}
    metrics: {{receivers: [otlp], processors: [anomaly], exporters: [prometheus]}}
"""

PROMETHEUS = """
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: ["{rules}"]
scrape_configs:
  - job_name: otel-perf
    honor_labels: true
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
"""


def recording(path: Path) -> Path:
    """Spans of shop (3 errors among 4 000) and a queue.depth gauge ending in a jump."""
    lines = []
    per_batch = REQUESTS // BATCHES
    for b in range(BATCHES):
        request = trace_request(
            spans=per_batch, service="shop", seed=b, start_ns=BASE_NS + b * per_batch * 1_000_000
        )
        if b < ERRORS:
            request.resource_spans[0].scope_spans[0].spans[0].status.code = 2  # ERROR
        lines.append(message_to_json(request))
    lines.append(message_to_json(gauge_request()))
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def gauge_request() -> ExportMetricsServiceRequest:
    rng = random.Random(5)
    values = [100 + rng.gauss(0, 3) for _ in range(60)] + [400.0]
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.append(kv("service.name", "shop"))
    metric = rm.scope_metrics.add().metrics.add()
    metric.name = "queue.depth"
    for i, value in enumerate(values):
        point = metric.gauge.data_points.add()
        point.time_unix_nano = BASE_NS + i * S
        point.as_double = value
    return request


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[tuple[Pipeline, int]]:
    port = free_port()
    config_path = tmp_path / "otel-perf.yaml"
    config_path.write_text(textwrap.dedent(CONFIG).format(port=port))
    running = Pipeline(load_config(config_path), Store(tmp_path / "store.db"))
    running.start(worker=False)
    try:
        yield running, port
    finally:
        running.shutdown()


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[int], str]]:
    binary = shutil.which("prometheus")
    assert binary, "prometheus not found: run .ci/services.sh (Debian package prometheus)"
    processes: list[subprocess.Popen[bytes]] = []

    def start(target_port: int) -> str:
        config = tmp_path / "prometheus.yml"
        config.write_text(textwrap.dedent(PROMETHEUS).format(rules=RULES, port=target_port))
        listen = f"127.0.0.1:{free_port()}"
        command = [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address={listen}",
        ]
        with (tmp_path / "prometheus.log").open("wb") as log:
            processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
        return f"http://{listen}"

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def query(base: str, promql: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def wait_for(base: str, promql: str, count: int, log: Path, timeout: float = 60.0) -> list[Any]:
    """Poll until the query returns ``count`` series (Prometheus up, scraped, evaluated)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = query(base, promql)
            if len(last) == count:
                return last
        except OSError as exc:  # not listening yet
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"{promql}: wanted {count} series, last {last!r}\n{log.read_text()}")


def by_window(results: list[dict[str, Any]]) -> dict[str, float]:
    return {r["metric"]["window"]: float(r["value"][1]) for r in results}


def test_prometheus_scrapes_slo_and_anomaly_series(
    pipeline: tuple[Pipeline, int], prometheus: Callable[[int], str], tmp_path: Path
) -> None:
    running, port = pipeline
    report = replay(running, [recording(tmp_path / "recording.jsonl")])
    assert report.errors == [] and report.items == REQUESTS + 61
    expected_score = running.gauges()["otel_perf.anomaly.score"][0][0]
    base = prometheus(port)
    log = tmp_path / "prometheus.log"

    selector = '{job="otel-perf", service_name="shop", objective="shop-availability"}'
    budget = wait_for(base, f"otel_perf_slo_error_budget_remaining{selector}", 1, log)
    assert float(budget[0]["value"][1]) == pytest.approx(BUDGET_REMAINING, abs=1e-9)
    burn = wait_for(base, f"otel_perf_slo_burn_rate{selector}", 5, log)  # 6h twice
    assert set(by_window(burn)) == {"5m", "1h", "30m", "6h", "3d"}
    assert all(v == pytest.approx(BURN_RATE, abs=1e-9) for v in by_window(burn).values())
    sli = wait_for(base, f"otel_perf_slo_sli{selector}", 1, log)
    assert float(sli[0]["value"][1]) == pytest.approx(1 - ERRORS / REQUESTS, abs=1e-12)

    score = wait_for(base, 'otel_perf_anomaly_score{service_name="shop"}', 1, log)
    assert score[0]["metric"]["series"].startswith("metric:queue.depth")
    assert float(score[0]["value"][1]) == pytest.approx(expected_score, abs=1e-9)
    assert expected_score > 0.5  # the jump at the end is anomalous

    # otel-perf's recording rules run on what was scraped
    recorded = wait_for(base, 'objective:otel_perf_slo_burn_rate:max{window="1h"}', 1, log)
    assert float(recorded[0]["value"][1]) == pytest.approx(BURN_RATE, abs=1e-9)
    up = query(base, 'up{job="otel-perf"}')
    assert [float(r["value"][1]) for r in up] == [1.0]
