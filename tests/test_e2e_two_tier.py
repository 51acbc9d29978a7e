"""Two tiers on one machine give the answers of one instance fed everything.

Three trace-tier otel-perf processes and one analysis-tier process (configs in
testdata/two_tier/), a test-side router sharding span batches by trace id as the
Collector's loadbalancing exporter does (here ``crc32(trace_id) % 3``, a deterministic
stand-in for its consistent-hash ring: all that matters is that every span of a trace
lands on the same instance), and a single instance fed the same scenario. The scenario:
checkout 1.8.3 serves clean traffic, then 1.9.0 with a slow product query (a version
regression, a latency SLO burn and the top bottleneck) while payments answers some
charges with 503 (an availability burn). All processes run on event time
(two_tier_main.py); the test moves time on with watermark points, polling APIs between.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from e2e import HERE, SidecarProcess, _wait_healthy
from e2e import poll as e2e_poll
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2_grpc import MetricsServiceStub
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from otlp_builders import BASE_NS, kv
from ports import free_port
from scenarios import PRODUCTS_OPERATION, S, generate

pytestmark = pytest.mark.e2e

TESTDATA = HERE / "testdata" / "two_tier"
SHARDS = 3
TEN_MINUTES = 600 * S
T0 = BASE_NS - BASE_NS % TEN_MINUTES + 30 * S  # both phases inside one bottlenecks window
TRACES = 400  # per phase: > version_window (100) requests per checkout route


# -- the scenario ---------------------------------------------------------------------
def _rewrite(body: bytes, version: str, failing: bool) -> ExportTraceServiceRequest:
    """checkout's version set to ``version``; with ``failing``, every 8th payments charge
    answers 503 (an error: a 5xx on a server span)."""
    request = ExportTraceServiceRequest.FromString(body)
    for rs in request.resource_spans:
        attrs = {a.key: a for a in rs.resource.attributes}
        service = attrs["service.name"].value.string_value
        if service == "checkout":
            attrs["service.version"].value.string_value = version
        for ss in rs.scope_spans:
            for span in ss.spans:
                if failing and service == "payments" and span.kind == 2 and span.span_id[0] < 32:
                    for a in span.attributes:
                        if a.key == "http.status_code":
                            a.value.int_value = 503
    return request


def scenario() -> tuple[list[ExportTraceServiceRequest], int]:
    """The requests in send order and the last span end (ns)."""
    clean = generate(None, traces=TRACES, start_ns=T0, seed=11)
    slow = generate("slow_query", traces=TRACES, start_ns=clean.end_ns + 2 * S, seed=12)
    requests = [_rewrite(b, "1.8.3", failing=False) for b in clean.requests]
    requests += [_rewrite(b, "1.9.0", failing=True) for b in slow.requests]
    return requests, slow.end_ns


def shard(request: ExportTraceServiceRequest) -> list[ExportTraceServiceRequest]:
    """The router: each span to ``crc32(trace_id) % SHARDS``, resource and scope kept."""
    out = [ExportTraceServiceRequest() for _ in range(SHARDS)]
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            parts: dict[int, Any] = {}
            for span in ss.spans:
                index = zlib.crc32(span.trace_id) % SHARDS
                part = parts.get(index)
                if part is None:
                    target = out[index].resource_spans.add()
                    target.resource.CopyFrom(rs.resource)
                    part = parts[index] = target.scope_spans.add()
                    part.scope.CopyFrom(ss.scope)
                part.spans.add().CopyFrom(span)
    return out


def watermark(time_ns: int) -> ExportMetricsServiceRequest:
    """A gauge point that only moves event time on (no processor reads it)."""
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.append(kv("service.name", "replay-clock"))
    metric = rm.scope_metrics.add().metrics.add()
    metric.name = "replay.watermark"
    point = metric.gauge.data_points.add()
    point.time_unix_nano, point.as_int = time_ns, 1
    return request


# -- processes ------------------------------------------------------------------------
def start(tmp_path: Path, name: str, **fields: Any) -> SidecarProcess:
    ports = {"grpc": free_port(), "http": free_port(), "api": free_port()}
    text = (TESTDATA / f"{name}.yaml").read_text().format(**ports, **fields)
    config = tmp_path / f"{name}-{ports['api']}.yaml"
    config.write_text(text)
    store = tmp_path / f"{name}-{ports['api']}.db"
    log_path = tmp_path / f"{name}-{ports['api']}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(HERE / "two_tier_main.py"), str(config), str(store)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(HERE)},
        )
    sidecar = SidecarProcess(process, store=store, log_path=log_path, **ports)
    _wait_healthy(sidecar)
    return sidecar


@pytest.fixture
def tiers(tmp_path: Path) -> Iterator[dict[str, Any]]:
    started: list[SidecarProcess] = []
    try:
        analysis = start(tmp_path, "analysis_tier")
        started.append(analysis)
        traces = []
        for i in range(SHARDS):
            traces.append(start(tmp_path, "trace_tier", analysis=analysis.grpc, instance=f"t{i}"))
            started.append(traces[-1])
        single = start(tmp_path, "single")
        started.append(single)
        yield {"analysis": analysis, "traces": traces, "single": single}
    finally:
        for sidecar in started:
            code = sidecar.stop()
            assert code == 0, sidecar.log()


def poll(
    read: Callable[[], Any], done: Callable[[Any], bool], what: str, timeout: float = 30
) -> Any:
    return e2e_poll(read, done, timeout, what, every=0.05)


# -- the comparisons --------------------------------------------------------------------
def budgets(sidecar: SidecarProcess) -> dict[str, dict[str, Any]]:
    keys = ("good", "bad", "total", "sli", "error_budget_remaining")
    return {
        o["name"]: {k: o["budget"][k] for k in keys}
        for o in sidecar.get("/performance/slo")["objectives"]
        if o.get("budget")
    }


def top(sidecar: SidecarProcess, k: int = 8) -> list[tuple[Any, ...]]:
    """The operations with the most critical-path time (the figures both tiers have; a
    single instance orders its ranking by avoidable time, which needs its baselines)."""
    rows = [
        (r["service"], r["operation"], r["critical_path_share"], r["traces"])
        for r in sidecar.get("/performance/bottlenecks")["ranking"]
    ]
    return sorted(rows, key=lambda r: (-r[2], r[0], r[1]))[:k]


def verdicts(sidecar: SidecarProcess) -> list[tuple[str, ...]]:
    comparisons = sidecar.get("/performance/regression/analysis")["version_comparisons"]
    return sorted(
        (c["service"], c["operation"], c["old_version"], c["new_version"], c["outcome"])
        for c in comparisons
    )


def test_two_tiers_give_the_single_instance_answers(tiers: dict[str, Any]) -> None:
    analysis, traces, single = tiers["analysis"], tiers["traces"], tiers["single"]
    channels = [grpc.insecure_channel(s.grpc_endpoint) for s in [*traces, single, analysis]]
    try:
        to_traces = [TraceServiceStub(c) for c in channels[:SHARDS]]
        to_single = TraceServiceStub(channels[SHARDS])
        metrics = [MetricsServiceStub(c) for c in channels]
        requests, end_ns = scenario()
        spans = 0
        for request in requests:  # in send order, each answered before the next
            to_single.Export(request, timeout=10)
            for stub, part in zip(to_traces, shard(request), strict=True):
                if part.resource_spans:
                    stub.Export(part, timeout=10)
            spans += sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)

        # W0: every trace is quiet and every interval past its grace, in one window
        for stub in metrics[: SHARDS + 1]:
            stub.Export(watermark(end_ns + 30 * S), timeout=10)
        for sidecar in [*traces, single]:
            poll(
                lambda s=sidecar: s.get("/performance/bottlenecks"),
                lambda b: b["traces_held"] == 0 and b["traces_analysed"] > 0,
                "every trace analysed",
            )
        analysed = sum(t.get("/performance/bottlenecks")["traces_analysed"] for t in traces)
        assert analysed == single.get("/performance/bottlenecks")["traces_analysed"] == 2 * TRACES
        poll(
            lambda: tier_state(analysis),
            lambda s: (
                len(s["instances"]) == SHARDS
                and min(s["instances"].values()) >= end_ns - 10 * S
                and s["open_intervals"] == 0
            ),
            "every trace-tier interval merged",
        )
        # W1: the bottlenecks window closes on every instance and is exported
        for stub in metrics[: SHARDS + 1]:
            stub.Export(watermark(end_ns + 3600 * S), timeout=10)
        poll(
            lambda: analysis.get("/performance/bottlenecks"),
            lambda b: b["traces_analysed"] == 2 * TRACES,
            "every window summed",
        )
        # W2: the analysis tier evaluates with everything in; so does the single instance
        for stub in metrics[SHARDS:]:
            stub.Export(watermark(end_ns + 7200 * S), timeout=10)
        evaluated = end_ns + 7200 * S
        for sidecar in (single, analysis):
            poll(
                lambda s=sidecar: s.get("/performance/slo")["objectives"],
                lambda objectives: (
                    objectives and all(o.get("at_ns") == evaluated for o in objectives)
                ),
                "SLOs evaluated at W2",
            )
    finally:
        for channel in channels:
            channel.close()

    expected = budgets(single)
    assert expected["checkout-latency-p99"]["bad"] > 0  # the slow query burns latency
    assert expected["payments-availability"]["bad"] > 0  # the 503s burn availability
    assert sum(b["total"] for b in expected.values()) > 0 and spans > 0
    got = budgets(analysis)
    assert got.keys() == expected.keys()
    for name, budget in expected.items():
        for key, value in budget.items():
            assert got[name][key] == pytest.approx(value, rel=1e-9, abs=1e-9), (name, key)

    ranked = top(single)
    assert ranked[0][:2] == ("checkout", PRODUCTS_OPERATION)
    assert top(analysis) == ranked
    assert "aggregates" in analysis.get("/performance/bottlenecks")["source"]

    outcomes = verdicts(single)
    assert ("checkout", "POST /checkout", "1.8.3", "1.9.0", "regression") in outcomes
    # statements are compared by fingerprint, which only spans carry: the analysis tier
    # (span-name aggregates) judges the entry operations, and the same way
    entry = [v for v in outcomes if not v[1].startswith("db ")]
    assert len(entry) < len(outcomes)
    assert verdicts(analysis) == entry


def tier_state(analysis: SidecarProcess) -> dict[str, Any]:
    """The aggregates processor's view (instances' watermarks, open intervals)."""
    merge: dict[str, Any] = analysis.get("/performance/bottlenecks")["merge"]
    return merge
