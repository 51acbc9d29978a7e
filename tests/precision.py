"""Runs one precision scenario through a real sidecar and scores what it reported.

The traffic (``precision_scenarios``) is sent over OTLP/gRPC to an in-process sidecar in
the order and at the event times the services' exporters would send it: the fake clock
steps one second at a time and each export goes out at its second, so spans of one trace
arrive over seconds and retried exports arrive late. The sidecar runs ``spanmetrics`` and
``bottlenecks`` and the REST API. After the last window has been evaluated the run reads
the bottleneck ranking and ``/performance/recommendations`` and keeps every finding
announced on the way.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import precision_scenarios as ps
from live import LiveSidecar
from ports import free_port

from otel_perf.findings import Finding, Severity, State

S = 1_000_000_000
INTERVAL_S = 30
WINDOWS = 5  # three to learn the baseline, then the cause (from the fourth)
QUIET_S = 10
START_NS = 1_750_000_200 * S  # a multiple of the interval
CONFIG = """
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc}"}}
processors:
  spanmetrics: {{}}
  bottlenecks: {{evaluation_interval: {interval}s, trace_quiet_time: {quiet}s}}
extensions:
  api: {{endpoint: "127.0.0.1:{api}"}}
service:
  tick_interval: 5ms
  extensions: [api]
  pipelines:
    traces: {{receivers: [otlp], processors: [spanmetrics, bottlenecks]}}
"""
#: what identifies the cause in a recommendation's subject
CAUSE_TEXT = {
    "slow_query_10x": "FROM products p",
    "small_n_plus_one": "order_items WHERE order_id = ?",
}


@dataclass
class Outcome:
    """What one scenario left behind, and its scores."""

    inject: str | None
    seed: int
    findings: list[Finding]
    ranking: list[dict[str, Any]]
    recommendations: list[dict[str, Any]]
    snapshot: dict[str, Any]
    traces: int
    scores: dict[str, Any] = field(default_factory=dict)

    def raised(self) -> list[Finding]:
        """Findings raised at warning or worse: one per finding (key), the last said."""
        latest = {
            f.key: f
            for f in self.findings
            if f.severity != Severity.INFO and f.state != State.RESOLVED
        }
        return list(latest.values())


def decoys_named(finding: Finding) -> set[str]:
    """The decoys a finding is about (its subject and what it names, not its context)."""
    about = {k: v for k, v in finding.attributes.items() if k != "critical_path"}
    text = json.dumps([finding.subject, about], default=str)
    return {name for name, words in ps.DECOYS.items() if any(w in text for w in words)}


def score(outcome: Outcome) -> dict[str, Any]:
    raised = outcome.raised()
    decoys = sorted({d for f in raised for d in decoys_named(f)})
    out: dict[str, Any] = {
        "warnings": len(raised),
        "decoys_flagged": decoys,
        "late_spans": outcome.snapshot["late_spans"],
        "traces_analysed": outcome.snapshot["traces_analysed"],
        "traces_sent": outcome.traces,
    }
    if outcome.inject is not None:
        top = outcome.ranking[0] if outcome.ranking else {}
        out["top1_ranking"] = (top.get("service"), top.get("operation")) in ps.CAUSE_OPERATIONS[
            outcome.inject
        ]
        first = outcome.recommendations[0] if outcome.recommendations else {}
        out["top1_recommendations"] = CAUSE_TEXT[outcome.inject] in str(first.get("subject"))
        out["ranking_top"] = top.get("operation")
        out["recommendation_top"] = first.get("subject")
    return out


def run(inject: str | None, seed: int, store_dir: Path) -> Outcome:
    """Send one scenario, evaluate every window, and score it."""
    cause_from = START_NS + (WINDOWS - 2) * INTERVAL_S * S
    traffic = ps.generate_precision(
        inject, seed, START_NS, WINDOWS * INTERVAL_S, cause_from_ns=cause_from
    )
    api = free_port()
    text = CONFIG.format(grpc=free_port(), api=api, interval=INTERVAL_S, quiet=QUIET_S)
    live = LiveSidecar(text, store_dir, START_NS)
    found: list[Finding] = []
    live.pipeline.on("*", found.append)
    try:
        _send_paced(live, traffic)
        end = START_NS + (WINDOWS + 1) * INTERVAL_S * S  # the last window evaluated
        for second in range(START_NS + WINDOWS * INTERVAL_S * S, end + S, S):
            live.advance(second)
        snapshot = live.snapshot("bottlenecks")
        recommendations = _get(api, "/performance/recommendations?limit=10")["recommendations"]
        outcome = Outcome(
            inject,
            seed,
            list(found),
            snapshot["ranking"],
            recommendations,
            snapshot,
            traffic.traces,
        )
    finally:
        live.close()
    outcome.scores = score(outcome)
    return outcome


def _send_paced(live: LiveSidecar, traffic: Any) -> None:
    pending = sorted(zip(traffic.send_ns, traffic.requests, traffic.span_counts, strict=True))
    second = START_NS
    index = 0
    while index < len(pending):
        live.advance(second)
        while index < len(pending) and pending[index][0] <= second:
            _, body, spans = pending[index]
            live.send(body, spans)
            index += 1
        second += S


def _get(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return json.loads(response.read())
