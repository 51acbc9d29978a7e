"""The alertmanager exporter against Debian's Alertmanager on loopback, plus its pure parts."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from ports import free_port
from pydantic import ValidationError
from test_e2e_alertmanager import Alertmanager, start_alertmanager, wait_for

from otel_perf.component import Context
from otel_perf.component.sender import Backoff, QueueSender, Retryable, SenderSettings
from otel_perf.config import ConfigError, load_config
from otel_perf.exporters.alertmanager import AlertmanagerConfig, AlertmanagerExporter
from otel_perf.exporters.alertmanager.alerts import alertname, labels_of, rfc3339
from otel_perf.exporters.alertmanager.book import AlertBook
from otel_perf.exporters.alertmanager.client import PostError, RetryablePostError
from otel_perf.findings import Finding, Kind, Severity, State
from otel_perf.store import Store
from otel_perf.telemetry import Telemetry

pytestmark = pytest.mark.e2e

S = 1_000_000_000
RULES = [
    {"long": {"window": "1h"}, "short": {"window": "5m"}, "firing": True},
    {"long": {"window": "6h"}, "short": {"window": "30m"}, "firing": False},
]


class Clock:
    """Wall-clock seconds that move only when the test says so."""

    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


def burn(state: State, at_s: float, **attributes: Any) -> Finding:
    firing = state != State.RESOLVED
    return Finding(
        kind=Kind.BURN_RATE_ALERT,
        severity=Severity.CRITICAL if firing else Severity.INFO,
        service="checkout",
        subject="checkout-availability page",
        time_ns=int(at_s * S),
        summary="burning 20x" if firing else "resolved",
        attributes={
            "objective": "checkout-availability",
            "alert": "page",
            "status": "firing" if firing else "resolved",
            "burn_rates": RULES,
            **attributes,
        },
        source="slo",
        state=state,
    )


def anomaly(severity: Severity, state: State = State.OPEN, series: str = "latency") -> Finding:
    return Finding(
        kind=Kind.ANOMALY_DETECTED,
        severity=severity,
        service="search",
        subject=series,
        time_ns=1_800_000_000 * S,
        summary=f"{series} is odd",
        attributes={"series": series, "score": 0.9999},
        source="anomaly",
        state=state,
    )


def settings(endpoint: str, **extra: Any) -> AlertmanagerConfig:
    body = {"endpoint": endpoint, "initial_backoff": "50ms", "max_backoff": "200ms", **extra}
    return AlertmanagerConfig.model_validate(body)


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[Alertmanager]:
    process = start_alertmanager(tmp_path / "am")
    yield process
    process.stop()


def exporter_for(
    config: AlertmanagerConfig, clock: Clock, store: Store | None = None, name: str = "am"
) -> AlertmanagerExporter:
    exporter = AlertmanagerExporter(
        Context(f"alertmanager/{name}", store or Store(":memory:")), config, clock
    )
    exporter.start()
    return exporter


def ours(manager: Alertmanager, name: str = "OtelPerfBurnRate") -> list[dict[str, Any]]:
    return [a for a in manager.alerts("?active=true") if a["labels"]["alertname"] == name]


def seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# -- against a real Alertmanager ---------------------------------------------------------
def test_firing_alert_has_stable_labels_and_resolves(manager: Alertmanager) -> None:
    clock = Clock(datetime.now().timestamp())
    started = clock.now_s - 300
    exporter = exporter_for(settings(manager.url, labels={"cluster": "eu-1"}), clock)
    try:
        exporter.export([burn(State.OPEN, started)])
        exporter.flush()
        (alert,) = wait_for(lambda: ours(manager), "the firing alert")
        assert alert["labels"] == {
            "alertname": "OtelPerfBurnRate",
            "service": "checkout",
            "severity": "page",
            "objective": "checkout-availability",
            "window": "1h/5m,6h/30m",
            "subject": "checkout-availability page",
            "source": "slo",
            "cluster": "eu-1",
        }
        assert alert["annotations"]["summary"] == "burning 20x"
        assert json.loads(alert["annotations"]["burn_rates"]) == RULES
        assert seconds(alert["startsAt"]) == pytest.approx(started, abs=0.001)
        assert seconds(alert["endsAt"]) == pytest.approx(clock.now_s + 4 * 60, abs=0.001)

        # an update of the same episode changes annotations, not the alert's identity
        exporter.export([burn(State.UPDATED, started + 60, note="worse")])
        exporter.flush()
        wait_for(
            lambda: [a for a in ours(manager) if a["annotations"].get("note") == "worse"],
            "the updated annotations",
        )
        (updated,) = ours(manager)
        assert updated["fingerprint"] == alert["fingerprint"]
        assert seconds(updated["startsAt"]) == pytest.approx(started, abs=0.001)

        exporter.export([burn(State.RESOLVED, started + 120)])
        exporter.flush()
        wait_for(lambda: not ours(manager), "the resolved alert to leave the active ones")
        stats = exporter.stats()
        assert stats["posts"] == 3 and stats["firing"] == 0 and stats["resolving"] == 0
    finally:
        exporter.shutdown()


def test_firing_alerts_are_resent_every_resend_interval(manager: Alertmanager) -> None:
    clock = Clock(datetime.now().timestamp())
    exporter = exporter_for(settings(manager.url, resend_interval="30s"), clock)
    try:
        exporter.export([burn(State.OPEN, clock.now_s - 60)])
        exporter.flush()
        (first,) = wait_for(lambda: ours(manager), "the firing alert")
        assert seconds(first["endsAt"]) == pytest.approx(clock.now_s + 120, abs=0.001)
        exporter.flush()  # not due yet: nothing is posted
        assert exporter.stats()["posts"] == 1
        clock.now_s += 30
        exporter.flush()
        assert exporter.stats()["posts"] == 2
        (again,) = wait_for(
            lambda: [a for a in ours(manager) if a["endsAt"] != first["endsAt"]], "the re-send"
        )
        assert seconds(again["endsAt"]) == pytest.approx(clock.now_s + 120, abs=0.001)
    finally:
        exporter.shutdown()


def test_posts_are_retried_until_alertmanager_comes_up(tmp_path: Path) -> None:
    port = free_port()
    clock = Clock(datetime.now().timestamp())
    config = settings(f"http://127.0.0.1:{port}", max_retries=100)
    telemetry = Telemetry()
    exporter = exporter_for(config, clock)
    exporter.bind_telemetry(telemetry)
    manager: Alertmanager | None = None
    try:
        exporter.export([burn(State.OPEN, clock.now_s - 60)])
        wait_for(lambda: exporter.stats()["attempts_failed"] >= 1, "a failed first attempt")
        assert "Connection refused" in exporter.stats()["last_error"]
        manager = start_alertmanager(tmp_path / "late", port=port)
        exporter.flush()
        wait_for(lambda: ours(manager), "the alert after Alertmanager came up")
        stats = exporter.stats()
        assert stats["posts"] == 1 and stats["posts_failed"] == 0
        assert telemetry.export_errors[exporter.id] == 0  # retried, so nothing was lost
    finally:
        exporter.shutdown()
        if manager is not None:
            manager.stop()


def test_restart_resumes_firing_alerts_from_the_store(
    manager: Alertmanager, tmp_path: Path
) -> None:
    clock = Clock(datetime.now().timestamp())
    store = Store(tmp_path / "state.db")
    first = exporter_for(settings(manager.url), clock, store)
    first.export([burn(State.OPEN, clock.now_s - 60)])
    first.flush()
    first.shutdown()
    (before,) = wait_for(lambda: ours(manager), "the firing alert")

    clock.now_s += 100
    second = exporter_for(settings(manager.url), clock, store)
    try:
        second.flush()  # the restored alert is re-sent at once
        (after,) = wait_for(
            lambda: [a for a in ours(manager) if a["endsAt"] != before["endsAt"]], "the re-send"
        )
        assert after["fingerprint"] == before["fingerprint"]
        assert seconds(after["endsAt"]) == pytest.approx(clock.now_s + 240, abs=0.001)
        # resolved before Alertmanager's own (real) now, so it is over at once
        second.export([burn(State.RESOLVED, clock.now_s - 110)])
        second.flush()
        wait_for(lambda: not ours(manager), "the resolution after the restart")
    finally:
        second.shutdown()
        store.close()


# -- what is sent, to an in-test HTTP server ---------------------------------------------
class Recorder:
    """A loopback HTTP server recording posts; answers with ``status`` (a list: per call)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.posts: list[tuple[dict[str, str], Any]] = []
        self.lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with recorder.lock:
                    recorder.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    status = recorder.statuses.pop(0) if recorder.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b'"invalid label set"' if status == 400 else b"")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder([])
    yield server
    server.close()


def test_headers_bearer_token_and_body(recorder: Recorder) -> None:
    config = settings(
        recorder.url,
        headers={"X-Scope-OrgID": "team-a"},
        bearer_token="s3cret",
        generator_url="http://127.0.0.1:8080/",
    )
    assert "s3cret" not in repr(config) and "s3cret" not in config.model_dump_json()
    clock = Clock(1_800_000_100.0)
    exporter = exporter_for(config, clock)
    exporter.export([burn(State.OPEN, 1_800_000_000.0)])
    exporter.flush()
    exporter.shutdown()
    ((headers, body),) = recorder.posts
    assert headers["authorization"] == "Bearer s3cret"
    assert headers["x-scope-orgid"] == "team-a"
    assert headers["content-type"] == "application/json"
    (alert,) = body
    assert alert["startsAt"] == "2027-01-15T08:00:00.000Z"
    assert alert["endsAt"] == "2027-01-15T08:05:40.000Z"  # now + 4 × 60 s
    assert alert["generatorURL"] == (
        "http://127.0.0.1:8080/performance/findings?kind=burn_rate_alert&service=checkout"
    )


def test_refused_alerts_are_not_retried_and_are_counted(recorder: Recorder) -> None:
    recorder.statuses[:] = [400]
    telemetry = Telemetry()
    exporter = exporter_for(settings(recorder.url, max_retries=5), Clock(1_800_000_100.0))
    exporter.bind_telemetry(telemetry)
    exporter.export([burn(State.OPEN, 1_800_000_000.0)])
    exporter.flush()
    exporter.shutdown()
    assert len(recorder.posts) == 1
    stats = exporter.stats()
    assert stats["posts_failed"] == 1 and "HTTP 400" in stats["last_error"]
    assert telemetry.export_errors["alertmanager/am"] == 1


def test_server_errors_are_retried(recorder: Recorder) -> None:
    recorder.statuses[:] = [503, 500]
    exporter = exporter_for(settings(recorder.url, max_retries=5), Clock(1_800_000_100.0))
    exporter.export([burn(State.OPEN, 1_800_000_000.0)])
    exporter.flush()
    exporter.shutdown()
    assert len(recorder.posts) == 3 and recorder.posts[0][1] == recorder.posts[2][1]
    assert exporter.stats()["attempts_failed"] == 2 and exporter.stats()["posts"] == 1


def test_kinds_and_min_severity_decide_what_is_sent(recorder: Recorder) -> None:
    config = settings(recorder.url, min_severity_by_kind={"anomaly_detected": "critical"})
    exporter = exporter_for(config, Clock(1_800_000_100.0))
    recommendation = anomaly(Severity.CRITICAL).model_copy(update={"kind": Kind.RECOMMENDATION})
    exporter.export([anomaly(Severity.WARNING), recommendation])
    exporter.flush()
    exporter.export([anomaly(Severity.CRITICAL, series="errors")])
    exporter.export([anomaly(Severity.INFO, State.RESOLVED, series="latency")])  # never fired
    exporter.flush()
    exporter.shutdown()
    ((_, body),) = recorder.posts
    assert [a["labels"]["subject"] for a in body] == ["errors"]
    assert body[0]["labels"]["alertname"] == "OtelPerfAnomaly"


def test_bounded_queue_drops_the_oldest_and_counts() -> None:
    telemetry = Telemetry()
    config = settings("http://127.0.0.1:9", max_queue=2)
    exporter = AlertmanagerExporter(Context("alertmanager", Store(":memory:")), config)
    exporter.bind_telemetry(telemetry)
    exporter.export([anomaly(Severity.CRITICAL, series=f"s{i}") for i in range(5)])
    assert exporter.stats()["dropped_queue"] == 3 and exporter.stats()["queued"] == 2
    assert telemetry.export_errors["alertmanager"] == 3
    exporter.shutdown()


# -- config ------------------------------------------------------------------------------
@pytest.mark.parametrize("endpoint", ["ftp://127.0.0.1:9093", "127.0.0.1:9093", "http://"])
def test_non_http_endpoint_is_rejected(endpoint: str) -> None:
    with pytest.raises(ValidationError) as error:
        AlertmanagerConfig.model_validate({"endpoint": endpoint})
    assert f'must be an http(s) URL like "http://127.0.0.1:9093", got "{endpoint}"' in str(
        error.value
    )


def test_config_errors_name_the_yaml_path() -> None:
    text = (
        "exporters:\n"
        "  alertmanager:\n"
        "    endpoint: am.example:9093\n"
        "    kinds: [burn_rate_alert, page]\n"
        "service:\n"
        "  pipelines: {traces: {receivers: [otlp], exporters: [alertmanager]}}\n"
        "receivers: {otlp: {}}\n"
    )
    with pytest.raises(ConfigError) as error:
        load_config(text=text)
    message = str(error.value)
    assert "exporters.alertmanager.endpoint: " in message
    assert 'must be an http(s) URL like "http://127.0.0.1:9093", got "am.example:9093"' in message
    assert "exporters.alertmanager.kinds[1]" in message


def test_other_bad_settings() -> None:
    with pytest.raises(ValidationError, match="label names must match"):
        settings("http://x", labels={"bad-name": "v"})
    with pytest.raises(ValidationError, match="max_backoff must be at least initial_backoff"):
        settings("http://x", initial_backoff="5s", max_backoff="1s")
    with pytest.raises(ValidationError, match="kinds is empty"):
        settings("http://x", kinds=[])


# -- pure parts ----------------------------------------------------------------------------
def test_alertnames_are_stable() -> None:
    assert [alertname(k) for k in Kind] == [
        "OtelPerfBottleneckIdentified",
        "OtelPerfSLOViolation",
        "OtelPerfBurnRate",
        "OtelPerfAnomaly",
        "OtelPerfRegression",
        "OtelPerfImprovementDetected",
        "OtelPerfCapacityForecast",
        "OtelPerfRecommendation",
        "OtelPerfSlowQuery",
        "OtelPerfNPlusOne",
        "OtelPerfSlowRequest",
        "OtelPerfIncident",
    ]


def test_labels_of_each_kind() -> None:
    violation = Finding(
        kind=Kind.SLO_VIOLATION,
        severity=Severity.WARNING,
        service="shop",
        subject="shop",
        time_ns=0,
        summary="below target",
        attributes={"objective": "shop", "window": "rolling 30d", "sli": 0.99},
        source="slo",
    )
    assert labels_of(violation) == {
        "alertname": "OtelPerfSLOViolation",
        "service": "shop",
        "severity": "warning",
        "subject": "shop",
        "source": "slo",
        "objective": "shop",
        "window": "rolling 30d",
    }
    capacity = violation.model_copy(
        update={
            "kind": Kind.CAPACITY_FORECAST,
            "subject": "cpu 0.7",
            "attributes": {"resource": "cpu", "threshold": 0.7, "days": 3.5},
        }
    )
    assert labels_of(capacity, {"severity": "ignored", "team": "core"}) == {
        "alertname": "OtelPerfCapacityForecast",
        "service": "shop",
        "severity": "warning",
        "subject": "cpu 0.7",
        "source": "slo",
        "resource": "cpu",
        "threshold": "0.7",
        "team": "core",
    }
    assert rfc3339(0.5) == "1970-01-01T00:00:00.500Z"


def test_a_suggested_objectives_page_rule_is_a_warning_not_a_page() -> None:
    declared = burn(State.OPEN, 1, suggested=False, pages=True)
    assert labels_of(declared)["severity"] == "page"
    suggested = burn(State.OPEN, 1, suggested=True, pages=False).model_copy(
        update={"severity": Severity.WARNING}
    )
    assert labels_of(suggested)["severity"] == "warning"


def test_a_severity_change_resolves_the_old_label_set() -> None:
    book = AlertBook(settings("http://x"))
    (opened,) = book.apply(anomaly(Severity.WARNING), 100.0)
    old, new = book.apply(anomaly(Severity.CRITICAL, State.UPDATED), 110.0)
    assert old.labels["severity"] == "warning" and old.ends_at_s is not None
    assert new.labels["severity"] == "critical" and new.ends_at_s is None
    assert new.starts_at_s == opened.starts_at_s
    (resolved,) = book.apply(anomaly(Severity.INFO, State.RESOLVED), 120.0)
    assert resolved.labels == new.labels  # resolved with the labels it fired with
    book.delivered([old, resolved])
    assert len(book) == 0


def test_max_active_alerts_and_expire_after() -> None:
    config = settings("http://x", max_active_alerts=2, expire_after={"anomaly_detected": "1h"})
    book = AlertBook(config)
    now = 1_800_000_000.0
    for series in ("a", "b", "c"):
        book.apply(anomaly(Severity.CRITICAL, series=series), now)
    assert len(book.firing) == 2 and book.dropped == 1
    assert all(held.ends_at_s is None for held in book.due(now + 3599))
    expired = book.due(now + 3600)
    assert len(expired) == 2 and all(held.ends_at_s == now + 3600 for held in expired)
    assert not book.firing


def test_retry_policy() -> None:
    """The posts go through the sender's retries: the configured backoff, a retryable error
    tried again, a refusal not, and once stopped one attempt without waiting."""
    exporter = AlertmanagerExporter(
        Context("alertmanager", Store(":memory:")),
        settings("http://x", initial_backoff="1s", max_backoff="30s", max_retries=5),
    )
    sender = exporter._sender
    backoff = sender.settings.backoff
    assert [backoff.delay_s(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert sender.settings.max_attempts == 6
    assert isinstance(RetryablePostError("down"), Retryable)
    assert not isinstance(PostError("refused"), Retryable)
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise RetryablePostError("down")

    quick = QueueSender(
        SenderSettings("test", 1, max_attempts=6, backoff=Backoff(0.001, 0.001)),
        lambda item: None,
    )
    quick.retry(flaky, lambda exc: None)
    assert len(calls) == 3
    sender.close(0.0)  # stopped: one attempt, no waiting on the 1 s backoff
    with pytest.raises(PostError):
        sender.retry(flaky_forever, lambda exc: None)


def flaky_forever() -> None:
    raise RetryablePostError("down")


def test_a_failed_save_is_retried_once_the_store_recovers(
    recorder: Recorder, tmp_path: Path
) -> None:
    """A read-only store (a real SQLITE_READONLY) loses no held alert: the next pass saves."""
    store = Store(tmp_path / "state.db")
    exporter = exporter_for(settings(recorder.url), Clock(1_800_000_100.0), store)
    try:
        store._db.execute("PRAGMA query_only = ON")
        exporter.export([burn(State.OPEN, 1_800_000_000.0)])
        exporter.flush()
        assert recorder.posts  # delivered all the same
        assert store.load_state(exporter.id, "alerts") is None
        store._db.execute("PRAGMA query_only = OFF")
        exporter.flush()  # nothing new to send; the save is retried
        held = store.load_state(exporter.id, "alerts")
        assert held is not None and len(recorder.posts) == 1
    finally:
        exporter.shutdown()
        store.close()
