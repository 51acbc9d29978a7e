"""Store faults: disk full, read-only. The sidecar keeps ingesting and serving, reports the
fault in health and catches up when it clears.

The faults are SQLite's own, on the store's own connection: ``PRAGMA max_page_count`` at
the current size makes every write that needs a page fail with SQLITE_FULL ("database or
disk is full"), ``PRAGMA query_only`` makes every write fail with SQLITE_READONLY. Both are
lifted the same way, so each test is deterministic and needs neither root nor a filesystem.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from otlp_builders import trace_request
from test_contract import batches, settings

from otel_perf.component import Context, Processor, processor_types
from otel_perf.config import load_config
from otel_perf.decode import Decoder
from otel_perf.findings import Finding, Kind, Severity
from otel_perf.pipeline import Pipeline
from otel_perf.sidecar import Sidecar
from otel_perf.store import Store, StoreWriteError

T0 = 1_700_000_010_000_000_000
HOUR_NS = 3600 * 10**9
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


class Clock:
    def __init__(self, now_ns: int = T0) -> None:
        self.now_ns = now_ns

    def __call__(self) -> int:
        return self.now_ns


def read_only(store: Store, on: bool = True) -> None:
    """Every write fails with SQLITE_READONLY while on."""
    store._db.execute(f"PRAGMA query_only = {'ON' if on else 'OFF'}")


def disk_full(store: Store, on: bool = True) -> None:
    """No page may be added while on: writes that grow the file fail with SQLITE_FULL."""
    pages = store._db.execute("PRAGMA page_count").fetchone()[0] if on else 1 << 30
    store._db.execute(f"PRAGMA max_page_count = {pages}")


def finding(i: int, service: str = "shop") -> Finding:
    return Finding(
        kind=Kind.RECOMMENDATION,
        severity=Severity.WARNING,
        service=service,
        subject=f"latency {i}",
        time_ns=T0 + i,
        summary=f"finding {i}",
    )


def rows(path: Path, query: str) -> list[tuple[Any, ...]]:
    """Read the file with a connection of its own (what a restart would see)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(query).fetchall()
    finally:
        db.close()


# -- the store -------------------------------------------------------------------------


def test_disk_full_is_a_fault_with_message_and_time_and_clears_when_space_returns(
    tmp_path: Path,
) -> None:
    clock = Clock()
    store = Store(tmp_path / "s.db", clock=clock)
    store.save_state("slo", "shop", {"n": 0}, T0)
    disk_full(store)
    big = {"blob": "x" * 200_000}  # needs new pages
    with pytest.raises(StoreWriteError, match=r"save slo shop: database or disk is full"):
        store.save_state("slo", "shop", big, T0 + 1)
    assert store.fault is not None
    assert "SQLITE_FULL" in store.fault.message
    assert store.fault.since_ns == T0 and store.fault.since == "2023-11-14T22:13:30Z"
    clock.now_ns += 10**9
    with pytest.raises(StoreWriteError):
        store.save_state("slo", "shop", big, T0 + 2)
    assert store.write_errors == 2
    assert store.fault.since_ns == T0  # since the first failure
    assert store.load_state("slo", "shop") == {"n": 0}  # nothing half-written

    disk_full(store, on=False)
    store.save_state("slo", "shop", big, T0 + 3)  # the connection is usable again
    assert store.fault is None and store.recoveries == 1
    assert rows(tmp_path / "s.db", "SELECT updated_ns FROM component_state") == [(T0 + 3,)]
    store.close()


def test_findings_and_series_wait_in_the_backlog_and_are_written_on_catch_up(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    store = Store(path)
    store.add_findings([finding(0)])
    read_only(store)
    store.add_findings([finding(1), finding(2, service="cart")])  # no exception: kept
    store.add_series(60, T0, [("shop", "k1", {"calls": 3})])
    assert store.expire_series(60, T0 + HOUR_NS) == 0  # best effort while faulted
    assert store.fault is not None and "SQLITE_READONLY" in store.fault.message
    status = store.status()
    assert status["pending_findings"] == 2 and status["pending_series_rows"] == 1
    assert status["fault"]["message"] == store.fault.message
    # readers see what waits, newest first, filtered like the rows
    assert [f.subject for f in store.findings()] == ["latency 2", "latency 1", "latency 0"]
    assert [f.subject for f in store.findings(service="cart")] == ["latency 2"]
    assert [f.subject for f in store.findings(limit=1)] == ["latency 2"]
    assert store.catch_up() is False  # still read-only
    assert rows(path, "SELECT COUNT(*) FROM findings") == [(1,)]

    read_only(store, on=False)
    assert store.catch_up() is True
    assert store.fault is None
    assert rows(path, "SELECT subject FROM findings ORDER BY id") == [
        ("latency 0",),
        ("latency 1",),
        ("latency 2",),
    ]
    assert rows(path, "SELECT start_ns, key FROM series") == [(T0, "k1")]
    assert store.status()["pending_findings"] == 0
    store.close()


def test_the_backlog_is_bounded_and_counts_what_it_drops(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", max_findings=3, max_pending_series_rows=4)
    read_only(store)
    store.add_findings([finding(i) for i in range(5)])
    for start in range(3):
        store.add_series(60, T0 + start, [("shop", "a", {}), ("shop", "b", {})])
    status = store.status()
    assert status["pending_findings"] == 3 and status["dropped_findings"] == 2
    assert status["pending_series_rows"] == 4 and status["dropped_series_rows"] == 2
    read_only(store, on=False)
    assert store.catch_up()
    assert [f.subject for f in store.findings()] == ["latency 4", "latency 3", "latency 2"]
    assert [start for start, _, _ in store.series(60)] == [T0 + 1, T0 + 1, T0 + 2, T0 + 2]


def test_writes_that_fail_for_another_reason_are_not_faults(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    with pytest.raises(sqlite3.IntegrityError):
        store.add_usage("c", [(None, 60, T0, 1, 1.0, 1.0, 1.0, 1.0, T0)])  # type: ignore[list-item]
    assert store.fault is None and store.write_errors == 0
    store.save_state("c", "n", 1, T0)  # the failed transaction was rolled back
    assert store.load_state("c", "n") == 1


def test_closing_during_a_fault_says_what_is_not_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(tmp_path / "s.db")
    read_only(store)
    store.add_findings([finding(1), finding(2)])
    store.close()  # no exception: shutdown goes on
    assert "closing during a fault; 2 findings and 0 series rows not written" in caplog.text


# -- every processor: a failed flush is retried, not marked clean ------------------------


def drive(store: Store, kind: str, tmp_path: Path, fault: bool) -> None:
    """Feed one processor, tick and flush at T0 and an hour later (the store faulted if
    ``fault``), then flush once more after the fault."""
    factory = processor_types()[kind]
    processor: Processor = factory.create(
        Context(f"{kind}/c", store), settings(kind, factory.config_model, tmp_path)
    )
    processor.start()
    spans, points, logs = batches()
    processor.consume_spans(spans)
    processor.consume_metrics(points)
    processor.consume_logs(logs)
    read_only(store, on=fault)
    for now_ns in (T0, T0 + HOUR_NS):  # the second tick closes span-metric intervals
        store.add_findings(processor.tick(now_ns))
        with contextlib.suppress(StoreWriteError):  # what the pipeline's guard does
            processor.flush(now_ns)
    read_only(store, on=False)
    processor.flush(T0 + 2 * HOUR_NS)
    store.catch_up()
    processor.shutdown()


def contents(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "state": rows(
            path,
            "SELECT component, name FROM component_state WHERE component != 'otel-perf'"
            " ORDER BY 1, 2",
        ),
        "series": rows(path, "SELECT * FROM series ORDER BY 1, 2, 4"),
        "usage": rows(path, "SELECT * FROM usage ORDER BY 1, 2, 3, 4"),
        "findings": rows(path, "SELECT key, body FROM findings ORDER BY id"),
    }


def restored(store: Store, kind: str, tmp_path: Path) -> Any:
    """What a restart on ``store`` knows: a new processor's view after one tick."""
    factory = processor_types()[kind]
    processor = factory.create(
        Context(f"{kind}/c", store), settings(kind, factory.config_model, tmp_path)
    )
    processor.start()
    processor.tick(T0 + 3 * HOUR_NS)
    view = json.loads(json.dumps(processor.snapshot(), default=str))
    processor.shutdown()
    return view


@pytest.mark.parametrize("kind", sorted(set(processor_types()) - {"broken"}))
def test_a_failed_flush_is_written_by_the_next_one(kind: str, tmp_path: Path) -> None:
    """After the fault clears, the file holds what it would without the fault: the same
    rows, and state documents that restore to the same processor."""
    plain, faulted = Store(tmp_path / "plain.db"), Store(tmp_path / "faulted.db")
    drive(plain, kind, tmp_path, fault=False)
    drive(faulted, kind, tmp_path, fault=True)
    expected = contents(tmp_path / "plain.db")
    assert contents(tmp_path / "faulted.db") == expected
    assert restored(faulted, kind, tmp_path) == restored(plain, kind, tmp_path)
    if any(expected.values()):
        assert faulted.write_errors > 0  # it did fail, and still caught up
    assert faulted.fault is None
    plain.close()
    faulted.close()


# -- the pipeline and the running sidecar ------------------------------------------------

PIPELINE = """
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:0"}
processors:
  slo:
    defaults: {enabled: false}
    objectives:
      - {name: shop, service: shop, availability: 0.999}
    min_events: 0
    evaluation_interval: 1s
    save_interval: 1s
extensions:
  api: {endpoint: "127.0.0.1:0"}
service:
  extensions: [api]
  tick_interval: 100ms
  store: {flush_interval: 100ms}
  pipelines:
    traces: {receivers: [otlp], processors: [slo]}
"""


def test_pipeline_counts_the_fault_and_catches_up_on_flush(tmp_path: Path) -> None:
    config = load_config(text=PIPELINE)
    store = Store(tmp_path / "s.db")
    pipeline = Pipeline(config, store, clock=Clock())
    pipeline.start(worker=False)
    pipeline.process(Decoder().spans(trace_request(spans=5, service="shop", start_ns=T0))[0])
    read_only(store)
    pipeline.flush(T0)
    assert pipeline.telemetry.component_errors == {}  # a fault is not a component bug
    snapshot = pipeline.telemetry.snapshot()["store"]
    assert snapshot["write_errors"] >= 1 and "SQLITE_READONLY" in snapshot["fault"]["message"]
    assert store.load_state("slo", "shop") is None
    read_only(store, on=False)
    pipeline.flush(T0 + 2 * 10**9)
    assert store.fault is None
    assert store.load_state("slo", "shop") is not None
    pipeline.shutdown()


def test_a_fault_with_nothing_to_write_clears_by_probe(tmp_path: Path) -> None:
    config = load_config(text=PIPELINE)
    store = Store(tmp_path / "s.db")
    pipeline = Pipeline(config, store, clock=Clock())
    read_only(store)
    with pytest.raises(StoreWriteError):
        store.save_state("x", "y", 1, T0)
    pipeline.flush(T0)  # nothing dirty: the probe fails, the fault stays
    assert store.fault is not None
    read_only(store, on=False)
    pipeline.flush(T0 + 10**9)
    assert store.fault is None
    pipeline.shutdown()


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[Sidecar]:
    running = Sidecar(load_config(text=PIPELINE), store_path=str(tmp_path / "live.db"))
    running.start()
    try:
        yield running
    finally:
        read_only(running.pipeline.store, on=False)
        running.stop()


def get(sidecar: Sidecar, path: str) -> Any:
    url = f"http://127.0.0.1:{sidecar.ports.api}{path}"
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def wait(predicate: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def export(sidecar: Sidecar, spans: int, seed: int) -> None:
    """``spans`` server spans of "shop" that ended a second ago (in the live SLO window)."""
    request = trace_request(spans, "shop", seed, start_ns=time.time_ns() - 2 * 10**9)
    with grpc.insecure_channel(f"127.0.0.1:{sidecar.ports.grpc['otlp']}") as channel:
        channel.unary_unary(EXPORT)(request.SerializeToString(), timeout=10)


def slo_total(sidecar: Sidecar) -> int:
    views = get(sidecar, "/performance/slo")["objectives"]
    return int(views[0].get("budget", {}).get("total", 0)) if views else 0


def test_sidecar_keeps_serving_reports_degraded_and_recovers(sidecar: Sidecar) -> None:
    store = sidecar.pipeline.store
    export(sidecar, 10, seed=1)
    wait(lambda: slo_total(sidecar) == 10, "the first spans to be counted")
    assert get(sidecar, "/performance/health")["status"] == "ok"

    read_only(store)
    export(sidecar, 20, seed=2)  # ingest goes on during the fault
    wait(lambda: slo_total(sidecar) == 30, "spans sent during the fault to be counted")
    wait(lambda: store.fault is not None, "the fault to be noticed")
    health = get(sidecar, "/performance/health")
    assert health["status"] == "degraded"
    reason = next(r["text"] for r in health["reasons"] if r["source"] == "store")
    assert (
        reason.startswith("store: ")
        and "attempt to write a readonly database" in reason
        and " since 20" in reason
    )
    assert health["store"]["write_errors"] >= 1
    assert get(sidecar, "/performance/metrics")["store"]["fault"] is not None

    read_only(store, on=False)
    wait(lambda: store.fault is None, "the fault to clear")
    health = get(sidecar, "/performance/health")
    assert health["status"] == "ok" and health["store"]["recoveries"] == 1
    saved = store.load_state("slo", "shop")
    wait(lambda: _saved_total(store) == 30, "the state of all 30 spans to be written")
    assert saved is not None


def _saved_total(store: Store) -> int:
    from otel_perf.processors.slo.windows import MinuteCounts

    body = store.load_state("slo", "shop")
    if not body:
        return 0
    counts = MinuteCounts.from_dict(body["counts"])
    if counts.head_minute is None:
        return 0
    return counts.sum(counts.oldest_minute, counts.head_minute + 1)[1]
