"""A real app with a real database: examples/sqlite_app.py under `opentelemetry-instrument`
(the sqlite3 instrumentation makes the query spans) exports to otel-perf, whose bottlenecks
processor reports the N+1 endpoint and the slow report query as findings."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e import (
    RECEIVERS,
    SidecarProcess,
    http_status,
    start_instrumented_app,
    start_sidecar,
    wait_app,
)
from ports import free_port

from otel_perf.processors.bottlenecks.evaluate import MAX_SUBJECT

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent
SERVICE = "library"
FINDINGS_TIMEOUT_S = 60.0

CONFIG = (
    RECEIVERS
    + """\
processors:
  spanmetrics: {{}}
  bottlenecks:
    trace_quiet_time: 1s
    evaluation_interval: 2s
    min_traces: 1
    slow_query_min_count: 1
    slow_query_p95: 500ms
    # Local SQLite answers a lookup in microseconds, so the loop never adds up to the
    # 50 ms a networked database would make of it; the count alone is what is tested.
    n_plus_one_min_total: 0s
extensions:
  api: {{endpoint: "127.0.0.1:{api}"}}
service:
  extensions: [api]
  tick_interval: 200ms
  pipelines:
    traces: {{receivers: [otlp], processors: [spanmetrics, bottlenecks]}}
"""
)

ROUTE = "/authors/{id}/books"
BOOK_FINGERPRINT = "SELECT id, title, year FROM books WHERE id = ?"
REPORT_FINGERPRINT = (
    "WITH RECURSIVE day(n) AS (SELECT ? UNION ALL SELECT n + ? FROM day WHERE n < ?) "
    "SELECT b.author_id, count(*) AS copies, sum((b.id * ? + day.n) % ?) AS revenue "
    "FROM books AS b CROSS JOIN day GROUP BY b.author_id ORDER BY revenue DESC"
)


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[SidecarProcess]:
    process = start_sidecar(tmp_path, CONFIG)
    yield process
    assert process.stop() == 0, process.log()


def start_app(sidecar: SidecarProcess, port: int, tmp_path: Path) -> subprocess.Popen[bytes]:
    return start_instrumented_app(
        "sqlite_app",
        sidecar,
        port,
        tmp_path / "app.log",
        OTEL_SERVICE_NAME=SERVICE,
        SQLITE_APP_DB=str(tmp_path / "library.db"),
    )


get = http_status
wait_up = wait_app


def wait_finding(
    sidecar: SidecarProcess, kind: str, matches: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Poll GET /performance/findings?kind= until a finding of ``kind`` matches."""
    deadline = time.monotonic() + FINDINGS_TIMEOUT_S
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        found = sidecar.get(f"/performance/findings?kind={kind}&service={SERVICE}")["findings"]
        for finding in found:
            if matches(finding):
                return finding
        time.sleep(0.2)
    bottlenecks = sidecar.get("/performance/bottlenecks")
    raise AssertionError(
        f"no matching {kind} finding in {FINDINGS_TIMEOUT_S}s; findings: {found}; "
        f"bottlenecks: {bottlenecks}"
    )


def test_n_plus_one_and_slow_query_of_a_real_sqlite_app(
    sidecar: SidecarProcess, tmp_path: Path
) -> None:
    port = free_port()
    app = start_app(sidecar, port, tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_up(f"{base}/fast", app, tmp_path / "app.log")
        statuses = [get(f"{base}/authors/{author}/books") for author in (1, 2, 1)]
        statuses += [get(f"{base}/report", timeout=60) for _ in range(2)]
        statuses += [get(f"{base}/fast") for _ in range(3)]
        assert statuses == [200] * 8
    finally:
        app.terminate()  # SIGTERM: the SDK flushes its span processor on exit
        app.wait(30)

    n_plus_one = wait_finding(
        sidecar,
        "n_plus_one",
        lambda f: f["attributes"]["parent_operation"] == f"GET {ROUTE}",
    )
    attributes = n_plus_one["attributes"]
    assert n_plus_one["service"] == SERVICE
    assert n_plus_one["subject"] == f"GET {ROUTE}: {BOOK_FINGERPRINT}"
    assert attributes["pattern"] == "n_plus_one"
    assert attributes["fingerprint"] == BOOK_FINGERPRINT  # "WHERE id = 7" -> "WHERE id = ?"
    assert attributes["max_calls"] == 15  # one query per book of the author
    assert n_plus_one["evidence"]["trace_ids"]

    slow = wait_finding(
        sidecar, "slow_query", lambda f: f["attributes"]["fingerprint"] == REPORT_FINGERPRINT
    )
    attributes = slow["attributes"]
    assert slow["service"] == SERVICE
    assert slow["subject"] == REPORT_FINGERPRINT[:MAX_SUBJECT]  # the attribute is not cut
    assert attributes["db_system"] == "sqlite"
    assert attributes["db_operation"] == "WITH"
    assert attributes["p95_ms"] >= 500, attributes
    assert slow["evidence"]["trace_ids"]

    # The per-book lookups are fast: they are an N+1, not a slow query.
    slow_queries = sidecar.get(f"/performance/findings?kind=slow_query&service={SERVICE}")
    fingerprints = [f["attributes"]["fingerprint"] for f in slow_queries["findings"]]
    assert BOOK_FINGERPRINT not in fingerprints
