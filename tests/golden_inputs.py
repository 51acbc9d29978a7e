"""Writes the golden cases' inputs (``processors/*/testdata/<case>/input.jsonl``,
``exporters/*/testdata/<case>/input.jsonl``) from the test scenarios.

    .venv/bin/python tests/golden_inputs.py             # every case
    .venv/bin/python tests/golden_inputs.py slo          # the cases under processors/slo

The inputs are deterministic (seeded scenarios); the answers are written by running the
contract suite with ``OTEL_PERF_UPDATE_GOLDEN=1`` (see docs/writing-a-component.md).
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).parent))

from otlp_builders import BASE_NS  # noqa: E402
from scenarios import CLIENT, MS, SERVER, S, generate  # noqa: E402

from otel_perf.decode import message_to_json, parse_protobuf  # noqa: E402

ROOT = Path(__file__).parents[1]
Line = dict[str, Any]


def traffic_lines(
    inject: str | None, traces: int, tick_s: float, seed: int = 7, start_ns: int = BASE_NS
) -> Iterator[Line]:
    """The scenario's trace requests as OTLP/JSON lines, ticking every ``tick_s`` of
    event time as ``otel-perf replay`` does, and once more after the last."""
    traffic = generate(inject, traces=traces, seed=seed, start_ns=start_ns)
    step = int(tick_s * S)
    next_tick = traffic.start_ns + step
    for body, sent in zip(traffic.requests, traffic.send_ns, strict=True):
        while sent >= next_tick:
            yield {"tick": next_tick}
            next_tick += step
        yield message_to_json(parse_protobuf("traces", body))
    yield {"tick": next_tick}
    yield {"tick": next_tick + step}


# -- OTLP/JSON builders ---------------------------------------------------------------


def attribute(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": value}}


def attributes(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [attribute(k, v) for k, v in values.items()]


def span(
    n: int,
    start_ns: int,
    duration_ms: float,
    name: str,
    kind: int = SERVER,
    attrs: dict[str, Any] | None = None,
    error: bool = False,
    trace: int | None = None,
    parent: int | None = None,
) -> dict[str, Any]:
    """One span; ids from ``n`` (and ``trace``, default ``n``), so they are stable."""
    out: dict[str, Any] = {
        "traceId": f"{(trace if trace is not None else n) + 1:032x}",
        "spanId": f"{n + 1:016x}",
        "name": name,
        "kind": kind,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + int(duration_ms * MS)),
        "attributes": attributes(attrs or {}),
    }
    if parent is not None:
        out["parentSpanId"] = f"{parent + 1:016x}"
    if error:
        out["status"] = {"code": 2}
    return out


def spans_line(resource: dict[str, Any], spans: list[dict[str, Any]]) -> Line:
    scope = {"scope": {"name": "golden"}, "spans": spans}
    return {
        "resourceSpans": [{"resource": {"attributes": attributes(resource)}, "scopeSpans": [scope]}]
    }


def gauge_line(service: str, name: str, time_ns: int, value: float, **attrs: Any) -> Line:
    point = {"timeUnixNano": str(time_ns), "asDouble": value, "attributes": attributes(attrs)}
    metric = {"name": name, "unit": "1", "gauge": {"dataPoints": [point]}}
    resource = {"attributes": attributes({"service.name": service})}
    return {"resourceMetrics": [{"resource": resource, "scopeMetrics": [{"metrics": [metric]}]}]}


def finding(
    kind: str,
    severity: str,
    service: str,
    subject: str,
    at_s: float,
    source: str,
    state: str = "open",
    **attrs: Any,
) -> dict[str, Any]:
    """A ``Finding`` as JSON, at ``at_s`` seconds after the scenarios' base time."""
    return {
        "kind": kind,
        "severity": severity,
        "service": service,
        "subject": subject,
        "time_ns": BASE_NS + int(at_s * S),
        "summary": f"{kind} on {subject}",
        "attributes": attrs,
        "source": source,
        "state": state,
    }


@dataclass(frozen=True)
class Case:
    make: Callable[[], Iterable[Line]]
    config: dict[str, Any] | None = None  # the case's own config.yaml
    upstream: dict[str, Any] | None = None  # upstream.yaml: processors fed first


CASES: dict[str, Case] = {}


def case(
    path: str, config: dict[str, Any] | None = None, upstream: dict[str, Any] | None = None
) -> Callable[[Callable[[], Iterable[Line]]], Callable[[], Iterable[Line]]]:
    def register(make: Callable[[], Iterable[Line]]) -> Callable[[], Iterable[Line]]:
        CASES[path] = Case(make, config, upstream)
        return make

    return register


@case("processors/bottlenecks/testdata/slow_query")
def _bottlenecks() -> Iterable[Line]:
    yield {"about": "checkout's product lookup takes 600-900 ms: a slow query on the critical path"}
    yield from traffic_lines("slow_query", traces=30, tick_s=1)


@case("processors/spanmetrics/testdata/shop")
def _spanmetrics() -> Iterable[Line]:
    yield {"about": "the shop's traffic: RED per service and operation in 10 s intervals"}
    yield from traffic_lines(None, traces=12, tick_s=5)


MIN_NS = 60 * S
SHOP = {"service.name": "shop", "service.version": "1.0"}


@case(
    "processors/slo/testdata/outage",
    config={
        "evaluation_interval": "1s",
        "objectives": [{"name": "shop", "service": "shop", "availability": 0.999}],
        "defaults": {"enabled": False},
    },
)
def _slo() -> Iterable[Line]:
    yield {"about": "two good minutes, then every request fails: the 1 h / 5 min rule pages"}
    n = 0
    for minute in range(8):
        for slot in range(6):  # a request every 10 s, a tick after each
            at = BASE_NS + minute * MIN_NS + slot * 10 * S
            failing = minute >= 2
            attrs = {"http.route": "/cart", "http.response.status_code": 500 if failing else 200}
            yield spans_line(SHOP, [span(n, at, 20, "GET /cart", attrs=attrs, error=failing)])
            yield {"tick": at + 10 * S}
            n += 1


@case("processors/anomaly/testdata/spike", config={"warm_up": 30})
def _anomaly() -> Iterable[Line]:
    yield {"about": "a steady queue depth, a three-point spike, then steady again"}
    rng = random.Random(1)
    values = [100 + rng.gauss(0, 2) for _ in range(60)] + [300.0, 310.0, 305.0]
    values += [100 + rng.gauss(0, 2) for _ in range(15)]
    for i, value in enumerate(values):
        at = BASE_NS + i * 10 * S
        yield gauge_line("worker", "queue.depth", at, round(value, 3))
        yield {"tick": at}


@case(
    "processors/regression/testdata/new_version",
    config={"min_samples": 30, "version_window": 50, "baseline_intervals": 1},
)
def _regression() -> Iterable[Line]:
    yield {"about": "version 2.0 serves GET /cart in 80 ms where 1.0 took 50 ms"}
    rng = random.Random(1)
    n = 0
    for version, median_ms in (("1.0", 50.0), ("2.0", 80.0)):
        resource = {"service.name": "shop", "service.version": version}
        for _ in range(6):  # batches of ten requests a second apart, a tick after each
            spans = []
            for _ in range(10):
                at = BASE_NS + n * S
                duration = median_ms * rng.lognormvariate(0, 0.2)
                spans.append(
                    span(n, at, round(duration, 3), "GET /cart", attrs={"http.route": "/cart"})
                )
                n += 1
            yield spans_line(resource, spans)
            yield {"tick": BASE_NS + n * S}


@case(
    "processors/capacity/testdata/rising_queue",
    config={
        "min_history": "0s",
        "forecast_window": "1d",
        "builtin_metrics": False,
        "request_rate": False,
        "resources": {
            "queue": {"metric": "queue.depth", "aggregation": "max", "thresholds": [100]}
        },
    },
)
def _capacity() -> Iterable[Line]:
    yield {"about": "a queue growing 20 a day from 10: it reaches 100 within the day's forecast"}
    rng = random.Random(2)
    step_s = 3600
    for i in range(4 * 24):  # four days, a point an hour, a tick every 12 h
        at = BASE_NS + i * step_s * S
        value = 10 + 20 * i * step_s / 86400 + rng.gauss(0, 1)
        yield gauge_line("worker", "queue.depth", at, round(value, 3))
        if i % 12 == 11:
            yield {"tick": at}


@case("processors/cache/testdata/cacheable_query")
def _cache() -> Iterable[Line]:
    yield {"about": "the same 150 ms product query every second: worth caching"}
    statement = "SELECT * FROM products WHERE id = 7"
    attrs = {"db.system.name": "postgresql", "db.query.text": statement}
    for i in range(20):
        at = BASE_NS + i * S
        yield spans_line(SHOP, [span(i, at, 150, "SELECT products", CLIENT, attrs)])
        if i % 5 == 4:
            yield {"tick": at + S}


@case(
    "processors/instrumentation/testdata/no_exit_spans",
    config={"window": "10s", "min_self_time": "0.1s", "min_server_spans": 5},
)
def _instrumentation() -> Iterable[Line]:
    yield {"about": "legacy's 200 ms requests show no client or database span: a hint"}
    n = 0
    for second in range(30):
        at = BASE_NS + second * S
        legacy = {"service.name": "legacy"}
        yield spans_line(legacy, [span(n, at, 200, "GET /report")])
        server = span(n + 1, at, 200, "GET /cart", trace=n + 1)
        db = span(
            n + 2,
            at + 100 * MS,
            50,
            "SELECT carts",
            CLIENT,
            {"db.system.name": "mysql"},
            trace=n + 1,
            parent=n + 1,
        )
        yield spans_line(SHOP, [server, db])
        n += 3
        if second % 5 == 4:
            yield {"tick": at + S}


@case(
    "processors/incidents/testdata/slow_query",
    upstream={
        "bottlenecks": {"trace_quiet_time": "0s", "evaluation_interval": "1s", "min_traces": 1}
    },
)
def _incidents() -> Iterable[Line]:
    yield {"about": "the bottlenecks processor's findings about a slow query: one incident"}
    yield from traffic_lines("slow_query", traces=20, tick_s=1)


FINDINGS = [
    finding(
        "burn_rate_alert", "critical", "shop", "shop page", 300, "slo",
        objective="shop", alert="page", status="firing", pages=True, suggested=False,
        sli="availability", target=0.999, error_budget_remaining=0.42,
    ),
    finding(
        "anomaly_detected", "warning", "worker", "metric:queue.depth{worker}", 310, "anomaly",
        series="metric:queue.depth{worker}", value=300.0, expected_low=95.2,
        expected_high=104.9, direction="up", score=0.9999,
    ),
    finding(
        "slow_query", "warning", "checkout", "SELECT p.id FROM products p WHERE p.id IN (?)",
        320, "bottlenecks", operation="postgresql SELECT p.id FROM products p WHERE p.id IN (?)",
        fingerprint="SELECT p.id FROM products p WHERE p.id IN (?)", db_system="postgresql",
        count=40, p50_ms=640.0, p95_ms=812.5, threshold_ms=500.0,
    ),
]  # fmt: skip
RESOLVED = {**FINDINGS[1], "state": "resolved", "severity": "info", "time_ns": BASE_NS + 400 * S}


def exporter_findings() -> Iterable[Line]:
    yield {"about": "a page, an anomaly and a slow query; then the anomaly resolves"}
    yield {"findings": FINDINGS}
    yield {"flush": BASE_NS + 330 * S}
    yield {"findings": [RESOLVED]}


for _name in ("alertmanager", "jsonl", "otlp"):
    case(f"exporters/{_name}/testdata/findings")(exporter_findings)


@case("exporters/prometheus/testdata/findings")
def _prometheus() -> Iterable[Line]:
    yield {"about": "open findings as gauges, read from /metrics before and after one resolves"}
    yield {"findings": FINDINGS}
    yield {"get": "/metrics", "match": "^otel_perf_finding"}
    yield {"findings": [RESOLVED]}
    yield {"get": "/metrics", "match": "^otel_perf_finding"}


@case(
    "exporters/aggregates/testdata/shop_intervals",
    upstream={"spanmetrics": {"interval": "10s", "late_grace": "0s"}},
)
def _otlp_aggregates() -> Iterable[Line]:
    yield {"about": "the shop's span metrics, sent to the analysis tier per closed interval"}
    yield from traffic_lines(None, traces=8, tick_s=5)


def trace_tier_requests(traces: int) -> list[Line]:
    """What an ``otlp_aggregates`` exporter (instance t1) sends for the shop's traffic."""
    from otel_perf.component import exporter_types, processor_types
    from otel_perf.componenttest.capture import CaptureServer
    from otel_perf.componenttest.harness import Harness
    from otel_perf.componenttest.steps import read_steps
    from otel_perf.store import Store

    spanmetrics = processor_types()["spanmetrics"]
    upstream = [
        (
            spanmetrics,
            spanmetrics.config_model.model_validate({"interval": "10s", "late_grace": "0s"}),
        )
    ]
    factory = exporter_types()["otlp_aggregates"]
    folder = ROOT / "build" / "golden-trace-tier"
    folder.mkdir(parents=True, exist_ok=True)
    lines = list(traffic_lines(None, traces=traces, tick_s=5))
    (folder / "input.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    with CaptureServer() as capture:
        settings = {"endpoint": capture.url, "protocol": "http/protobuf", "instance": "t1"}
        config = factory.config_model.model_validate(settings)
        harness = Harness(factory, config, Store(":memory:"), upstream)
        harness.start()
        steps = read_steps(folder / "input.jsonl", harness.decoder)
        harness.run(steps)
        harness.flush(max(s.tick_ns or 0 for s in steps))
        harness.shutdown()
        bodies = [r.body for r in capture.requests]
    return [message_to_json(parse_protobuf("metrics", body)) for body in bodies]


@case(
    "processors/aggregates/testdata/one_instance", config={"expected_instances": 1, "grace": "0s"}
)
def _aggregates() -> Iterable[Line]:
    yield {"about": "one trace-tier instance's span metrics, merged into intervals again"}
    requests = trace_tier_requests(traces=8)
    for n, request in enumerate(requests):
        yield request
        yield {"tick": BASE_NS + (n + 1) * 10 * S}
    yield {"finish": BASE_NS + (len(requests) + 1) * 10 * S}


def write(path: str, spec: Case) -> None:
    folder = ROOT / path
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in spec.make())
    (folder / "input.jsonl").write_text(text, encoding="utf-8")
    for name, body in (("config.yaml", spec.config), ("upstream.yaml", spec.upstream)):
        if body is not None:
            header = f"# written by tests/golden_inputs.py: this case's {name}\n"
            (folder / name).write_text(header + yaml.safe_dump(body, sort_keys=False))
    print(f"{path}/input.jsonl: {len(text) // 1024} KiB")


def main(only: list[str]) -> None:
    for path, spec in CASES.items():
        if not only or any(f"/{name}/" in path for name in only):
            write(path, spec)


if __name__ == "__main__":
    main(sys.argv[1:])
