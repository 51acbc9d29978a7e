"""Two simultaneous faults sent as spans through the OTLP receiver, found by the real
processors and grouped by the incidents processor: a release of ``search`` that slows one
statement is one incident whose probable cause is that statement; the shop's payments
service slowing at the same time is a second incident, caused by payments."""

from __future__ import annotations

import math
import random
from pathlib import Path

import scenarios
from live import LiveSidecar
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from otlp_builders import BASE_NS, kv
from ports import free_port

from otel_perf.findings import Kind

S = 1_000_000_000
MS = 1_000_000
STATEMENT = "SELECT id, name, price FROM items WHERE name LIKE ?"
CONFIG = """
receivers: {otlp: {protocols: {grpc: {endpoint: "127.0.0.1:GRPC_PORT"}}}}
processors:
  spanmetrics: {late_grace: 0s}
  bottlenecks: {trace_quiet_time: 5s, evaluation_interval: 60s, min_traces: 10}
  regression: {version_window: 80, min_samples: 30, baseline_intervals: 0}
  incidents: {}
service:
  tick_interval: 5ms
  pipelines:
    traces:
      receivers: [otlp]
      processors: [spanmetrics, bottlenecks, regression, incidents]
"""
Export = tuple[int, bytes, int]  # send time, request, spans in it


def release(start_ns: int, per_version: int = 120, seed: int = 3) -> list[Export]:
    """``search`` 1.0 then 2.0, ten searches a second; 2.0's item query takes 300 ms, not 4."""
    rng = random.Random(seed)
    out: list[Export] = []
    at = start_ns
    for version, query_ms in (("1.0", 4.0), ("2.0", 300.0)):
        for _ in range(per_version // 20):  # 20 traces (40 spans) a request
            request = ExportTraceServiceRequest()
            rs = request.resource_spans.add()
            rs.resource.attributes.extend(
                [kv("service.name", "search"), kv("service.version", version)]
            )
            scope = rs.scope_spans.add()
            for _ in range(20):
                at += int(rng.expovariate(10.0) * S)
                query_ns = int(rng.lognormvariate(math.log(query_ms), 0.3) * MS)
                _search(scope, rng, at, query_ns)
            out.append((at + S, request.SerializeToString(), 40))
    return out


def _search(scope: object, rng: random.Random, at: int, query_ns: int) -> None:
    spans = scope.spans  # type: ignore[attr-defined]
    trace, root_id = rng.randbytes(16), rng.randbytes(8)
    root = spans.add(trace_id=trace, span_id=root_id, kind=2, name="GET /search")
    root.start_time_unix_nano, root.end_time_unix_nano = at, at + query_ns + 6 * MS
    root.attributes.extend(
        [
            kv("http.request.method", "GET"),
            kv("http.route", "/search"),
            kv("http.response.status_code", 200),
        ]
    )
    query = spans.add(trace_id=trace, span_id=rng.randbytes(8), parent_span_id=root_id, kind=3)
    query.name = "SELECT items"
    query.start_time_unix_nano, query.end_time_unix_nano = at + 2 * MS, at + 2 * MS + query_ns
    text = STATEMENT.replace("?", f"'{rng.choice('abc')}%'")
    query.attributes.extend([kv("db.system.name", "postgresql"), kv("db.query.text", text)])


def test_a_release_and_an_unrelated_slow_service_are_two_incidents(tmp_path: Path) -> None:
    shop = scenarios.generate("slow_downstream", traces=600)
    exports = sorted(
        [*release(BASE_NS), *zip(shop.send_ns, shop.requests, shop.span_counts, strict=True)]
    )
    end_ns = max(shop.end_ns, exports[-1][0])
    live = LiveSidecar(CONFIG.replace("GRPC_PORT", str(free_port())), tmp_path, BASE_NS)
    try:
        for sent_ns, body, spans in exports:  # event time moves with the traffic
            if sent_ns > live.clock.now_ns:
                live.advance(sent_ns)
            live.send(body, spans)
        for offset_s in (6, 62, 63, 64):  # traces close; bottlenecks evaluate; incidents
            live.advance(end_ns + offset_s * S)
        incidents = live.snapshot("incidents")["open"]
        found = [f for f in live.pipeline.store.findings(limit=200) if f.kind != Kind.INCIDENT]
    finally:
        live.close()
    assert len(incidents) == 2, [i["title"] for i in incidents]
    by_service = {i["probable_cause"]["service"]: i for i in incidents}
    assert sorted(by_service) == ["payments", "search"]
    search = by_service["search"]["probable_cause"]
    assert search["kind"] in (Kind.SLOW_QUERY.value, Kind.REGRESSION_DETECTED.value)
    assert STATEMENT in search["subject"]  # the statement, not the route it slows
    assert search["reasoning"]["release"] == {"old": "1.0", "new": "2.0"}
    assert search["reasoning"]["layer"] == "statement or resource"
    members = {m["key"] for i in incidents for m in i["members"]}
    assert members == {f.key for f in found}  # every finding raised is in one of the two
    search_members = {m["service"] for m in by_service["search"]["members"]}
    assert search_members == {"search"}
    assert "search" not in {m["service"] for m in by_service["payments"]["members"]}
