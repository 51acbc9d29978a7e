"""Incidents from the findings real processors raise on the shop's traffic
(``tests/scenarios.py``): spanmetrics and bottlenecks, then incidents, in one pipeline."""

from __future__ import annotations

from typing import Any

import pytest
import scenarios
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_perf.config import load_config
from otel_perf.decode import Decoder
from otel_perf.findings import Kind
from otel_perf.pipeline import Pipeline
from otel_perf.store import Store

S = 1_000_000_000
CONFIG = """
receivers: {otlp: {}}
processors:
  spanmetrics: {late_grace: 0s}
  bottlenecks: {trace_quiet_time: 0s, evaluation_interval: 60s, min_traces: 10}
  incidents: {}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [spanmetrics, bottlenecks, incidents]}
"""


def incidents_of(inject: str) -> tuple[list[dict[str, Any]], int]:
    pipe = Pipeline(load_config(text=CONFIG), Store(":memory:"), clock=lambda: 1)
    pipe.start(worker=False)
    traffic = scenarios.generate(inject, traces=600)
    decoder = Decoder()
    for body in traffic.requests:
        pipe.process(decoder.spans(ExportTraceServiceRequest.FromString(body))[0])
    end = traffic.end_ns
    pipe.tick(end + S)  # closes every trace
    pipe.tick(end + 62 * S)  # the bottlenecks window is evaluated, its findings stored
    pipe.tick(end + 63 * S)  # the incidents processor reads them
    found = len([f for f in pipe.store.findings(limit=1000) if f.kind != Kind.INCIDENT])
    announced = pipe.store.findings(kind=Kind.INCIDENT.value)
    assert len(announced) == 1  # one incident finding, stored and exported like any other
    incidents = pipe.snapshot("incidents")["incidents"]["open"]
    pipe.shutdown()
    return incidents, found


@pytest.mark.parametrize(
    ("inject", "kind"),
    [("slow_query", "slow_query"), ("slow_downstream", "bottleneck_identified")],
)
def test_the_injected_cause_is_the_probable_cause_of_the_one_incident(
    inject: str, kind: str
) -> None:
    incidents, found = incidents_of(inject)
    service, subject = scenarios.EXPECTED[inject].cause
    (incident,) = incidents
    assert len(incident["members"]) == found  # every finding the processors raised
    cause = incident["probable_cause"]
    assert (cause["service"], cause["kind"]) == (service, kind)
    assert subject.split(" ", 1)[1][:40] in cause["subject"]
