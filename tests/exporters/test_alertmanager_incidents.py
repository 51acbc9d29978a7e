"""One page per incident: findings that belong to an open incident reach Alertmanager as
the incident's one alert listing them; a finding outside any incident pages alone after
``group_wait``. The alert book's rules, then the shop's slow query through the real
processors into Debian's Alertmanager on loopback."""

from __future__ import annotations

import json
import random
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import scenarios
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from test_e2e_alertmanager import WEBHOOK_RECEIVER, Webhook, start_alertmanager, wait_for
from test_e2e_alertmanager import webhook as webhook  # the fixture

from benchmarks._incident_faults import NS, release_statement, slow_query
from otel_perf.component import Context
from otel_perf.config import load_config
from otel_perf.decode import Decoder
from otel_perf.exporters.alertmanager import AlertmanagerConfig, AlertmanagerExporter
from otel_perf.exporters.alertmanager.alerts import alertname
from otel_perf.exporters.alertmanager.book import AlertBook
from otel_perf.findings import Finding, Kind, State
from otel_perf.pipeline import Pipeline
from otel_perf.processors.incidents.config import IncidentsConfig
from otel_perf.processors.incidents.processor import IncidentsProcessor
from otel_perf.store import Store

pytestmark = pytest.mark.e2e

T0 = 1_800_000_000 * NS
KINDS = "[slow_query, slow_request, bottleneck_identified, regression_detected, burn_rate_alert]"


def book(grouping: bool = True) -> AlertBook:
    config = AlertmanagerConfig.model_validate(
        {"endpoint": "http://127.0.0.1:9093", "kinds": KINDS[1:-1].split(", ")}
    )
    out = AlertBook(config)
    out.grouping = grouping
    return out


def incident_of(findings: list[Finding], store: Store) -> Finding:
    """The ``incident`` finding the real processor raises for ``findings``."""
    store.add_findings(findings)
    processor = IncidentsProcessor(Context("incidents", store), IncidentsConfig())
    (opened,) = processor.tick(T0 + 300 * NS)
    return opened


def test_members_fold_into_the_incident_and_a_stray_finding_pages_alone() -> None:
    members = release_statement("search", T0, random.Random(1)).findings
    stray = slow_query("billing", "GET /invoice", "SELECT * FROM invoices", T0)
    alerts = book()
    assert [alerts.apply(f, 100.0) for f in [*members, stray]] == [[]] * 6  # all waiting
    incident = incident_of(members, Store(":memory:"))
    (posted,) = alerts.apply(incident, 105.0)
    assert posted.labels["alertname"] == "OtelPerfIncident"
    assert posted.labels["incident"] == incident.subject
    lines = posted.annotations["members"].splitlines()
    assert len(lines) == len(members)
    assert "warning slow_query search: postgresql SELECT * FROM items_search" in "\n".join(lines)
    assert alerts.release(129.0) == []
    (alone,) = alerts.release(130.0)  # group_wait (30 s) over, in no incident
    assert alone.labels["alertname"] == "OtelPerfSlowQuery" and alone.labels["service"] == "billing"
    assert {a.labels["alertname"] for a in alerts.due(131.0)} == {
        "OtelPerfIncident",
        "OtelPerfSlowQuery",
    }
    # the members resolve quietly; the incident's resolution resolves its one alert
    resolved = [f.model_copy(update={"state": State.RESOLVED}) for f in members]
    assert [alerts.apply(f, 140.0) for f in resolved] == [[]] * len(members)
    closed = incident.model_copy(update={"state": State.RESOLVED, "time_ns": 141 * NS})
    (end,) = alerts.apply(closed, 141.0)
    assert end.labels == posted.labels and end.ends_at_s is not None


def test_an_incident_pages_only_when_a_member_would_have() -> None:
    members = release_statement("search", T0, random.Random(2)).findings
    quiet = [f for f in members if f.kind in (Kind.ANOMALY_DETECTED,)]  # not in kinds
    incident = incident_of(quiet, Store(":memory:"))
    assert book().apply(incident, 100.0) == []


def test_an_incident_named_in_kinds_pages_by_its_own_severity() -> None:
    members = release_statement("search", T0, random.Random(2)).findings
    quiet = [f for f in members if f.kind in (Kind.ANOMALY_DETECTED,)]
    incident = incident_of(quiet, Store(":memory:"))
    config = AlertmanagerConfig(endpoint="http://127.0.0.1:9093", kinds=(Kind.INCIDENT,))
    alerts = AlertBook(config)
    alerts.grouping = True
    (posted,) = alerts.apply(incident, 100.0)
    assert posted.labels["incident"] == incident.subject


def test_a_member_let_go_by_its_incident_waits_again_then_pages_alone() -> None:
    members = release_statement("search", T0, random.Random(3)).findings
    alerts = book()
    for f in members:
        alerts.apply(f, 100.0)
    incident = incident_of(members, Store(":memory:"))
    alerts.apply(incident, 101.0)
    fewer = incident.model_copy(
        update={"state": State.UPDATED, "evidence": {"finding_keys": [members[0].key]}}
    )
    alerts.apply(fewer, 102.0)
    assert alerts.release(131.0) == []  # waits group_wait from when it was let go
    let_go = sorted(alertname(f.kind) for f in members[1:])
    assert sorted(a.labels["alertname"] for a in alerts.release(132.0)) == let_go


def test_without_an_incidents_processor_nothing_waits() -> None:
    alerts = book(grouping=False)
    (finding,) = [f for f in release_statement("s", T0, random.Random(4)).findings[:2][1:]]
    assert len(alerts.apply(finding, 100.0)) == 1


def test_grouping_survives_a_restart() -> None:
    members = release_statement("search", T0, random.Random(5)).findings
    alerts = book()
    for f in members:
        alerts.apply(f, 100.0)
    alerts.apply(incident_of(members, Store(":memory:")), 101.0)
    again = book()
    again.restore(alerts.document())
    assert again.release(1000.0) == []  # still folded into the incident
    assert again.incident_of == alerts.incident_of


def test_a_damaged_saved_book_is_left_behind_with_its_path(
    caplog: pytest.LogCaptureFixture,
) -> None:
    members = release_statement("search", T0, random.Random(5)).findings
    alerts = book()
    for f in members:
        alerts.apply(f, 100.0)
    alerts.apply(incident_of(members, Store(":memory:")), 101.0)
    saved = alerts.document()
    (incident,) = saved["incidents"]
    saved["incidents"][incident].append(7)  # not a finding key
    again = book()
    again.restore(saved)
    assert again.firing == {} and again.incident_of == {}
    assert f"$.incidents[{incident!r}][" in caplog.text and "expected str, got 7" in caplog.text


# -- through the real processors into the real Alertmanager --------------------------
CONFIG = """
receivers: {{otlp: {{}}}}
processors:
  spanmetrics: {{late_grace: 0s}}
  bottlenecks: {{trace_quiet_time: 0s, evaluation_interval: 60s, min_traces: 10}}
  incidents: {{}}
exporters:
  alertmanager:
    endpoint: "{endpoint}"
    kinds: {kinds}
    group_by_incident: {grouping}
    initial_backoff: 100ms
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [spanmetrics, bottlenecks, incidents]
      exporters: [alertmanager]
"""


def active(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/api/v2/alerts?active=true", timeout=5) as resp:
        body: list[dict[str, Any]] = json.loads(resp.read())
        return body


@pytest.mark.parametrize("grouping", [True, False])
def test_the_shops_slow_query_is_one_page_not_one_per_finding(
    tmp_path: Path, webhook: Webhook, grouping: bool
) -> None:
    manager = start_alertmanager(tmp_path / "am", config=WEBHOOK_RECEIVER.format(url=webhook.url))
    try:
        text = CONFIG.format(endpoint=manager.url, kinds=KINDS, grouping=str(grouping).lower())
        pipe = Pipeline(load_config(text=text), Store(":memory:"), clock=lambda: 1)
        exporter = pipe.exporters["alertmanager"]
        assert isinstance(exporter, AlertmanagerExporter)
        now_s = [time.time()]  # the exporter's wall clock, moved by the test
        exporter.clock = lambda: now_s[0]
        pipe.start(worker=False)
        decoder = Decoder()
        traffic = scenarios.generate("slow_query", traces=600)
        for body in traffic.requests:
            pipe.process(decoder.spans(ExportTraceServiceRequest.FromString(body))[0])
        for offset_s in (1, 62, 63):  # traces close; bottlenecks evaluate; incidents group
            pipe.tick(traffic.end_ns + offset_s * NS)
        (incident,) = pipe.snapshot("incidents")["incidents"]["open"]
        exporter.flush()
        now_s[0] += 31  # past group_wait: whatever waits for no incident pages alone
        exporter.flush()
        paging = {"slow_query", "slow_request", "bottleneck_identified"}
        alone = [m for m in incident["members"] if m["kind"] in paging]
        expected = 1 if grouping else len([m for m in alone if m["severity"] != "info"])
        assert exporter.stats()["alerts_sent"] == expected
        wait_for(lambda: len(active(manager.url)) >= expected, "the alerts in Alertmanager")
        names = sorted(a["labels"]["alertname"] for a in active(manager.url))
        if grouping:
            assert names == ["OtelPerfIncident"]
            (alert,) = active(manager.url)
            assert alert["labels"]["incident"] == incident["id"]
            assert len(alert["annotations"]["members"].splitlines()) == len(incident["members"])
            wait_for(
                lambda: [a for n in webhook.notifications() for a in n["alerts"]],
                "Alertmanager's notification of the incident",
            )
            paged = {a["labels"]["alertname"] for n in webhook.notifications() for a in n["alerts"]}
            assert paged == {"OtelPerfIncident"}  # one page, the members inside it
        else:
            assert len(names) == expected >= 3
            assert "OtelPerfIncident" not in names
        pipe.shutdown(timeout=10)
    finally:
        manager.stop()
