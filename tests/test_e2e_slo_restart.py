"""kill -9 in the middle of an SLO window, then restart on the same store: the error budget
the restarted sidecar reports matches the figure before, within one minute's aggregation.

The live pipeline ticks with the wall clock, so the spans end within the last minute: they
land in the current 30-day window and stay in it across the restart. No traffic arrives
after the kill, so the restarted figures must be exactly the ones read before it.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from e2e import RECEIVERS, SidecarProcess, send_traces, start_sidecar
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from otlp_builders import kv

from otel_perf.processors.slo.windows import MinuteCounts

pytestmark = pytest.mark.e2e

S = 1_000_000_000
GOOD, BAD = 3_997, 3  # 4 000 requests at 99.9 %: budget 4 bad, 3 spent, 25 % remaining
BATCHES = 8

CONFIG = (
    RECEIVERS
    + """\
processors:
  slo:
    defaults: {{enabled: false}}
    objectives:
      - {{name: shop, service: shop, availability: 0.999}}
    min_events: 0
    evaluation_interval: 1s
    save_interval: 1s
extensions:
  api: {{endpoint: "127.0.0.1:{api}"}}
service:
  extensions: [api]
  tick_interval: 100ms
  store: {{flush_interval: 200ms}}
  pipelines:
    traces: {{receivers: [otlp], processors: [slo]}}
"""
)


def start(tmp_path: Path, store: Path) -> SidecarProcess:
    """A sidecar process on the given store file (so a restart can reuse it)."""
    return start_sidecar(tmp_path, CONFIG, store=store)


def requests_now(seed: int = 7) -> list[bytes]:
    """GOOD + BAD server spans of "shop" ending over the last 50 s, in BATCHES requests."""
    rng = random.Random(seed)
    now = time.time_ns()
    failing = set(rng.sample(range(GOOD + BAD), BAD))
    out = []
    per_batch = -(-(GOOD + BAD) // BATCHES)
    for first in range(0, GOOD + BAD, per_batch):
        request = ExportTraceServiceRequest()
        rs = request.resource_spans.add()
        rs.resource.attributes.append(kv("service.name", "shop"))
        ss = rs.scope_spans.add()
        ss.scope.name = "tests"
        for i in range(first, min(first + per_batch, GOOD + BAD)):
            span = ss.spans.add()
            span.trace_id = rng.randbytes(16)
            span.span_id = rng.randbytes(8)
            span.name = "GET /cart"
            span.kind = 2  # SERVER
            span.end_time_unix_nano = now - S - i * 50 * S // (GOOD + BAD)
            span.start_time_unix_nano = span.end_time_unix_nano - 20_000_000
            span.attributes.extend([kv("http.route", "/cart"), kv("http.request.method", "GET")])
            if i in failing:
                span.status.code = 2  # ERROR
        out.append(request.SerializeToString())
    return out


def objective(sidecar: SidecarProcess) -> dict[str, Any] | None:
    views = sidecar.get("/performance/slo")["objectives"]
    view = next((v for v in views if v["name"] == "shop"), None)
    return view if view and "budget" in view else None


def wait_budget(sidecar: SidecarProcess, total: int, timeout: float = 30.0) -> dict[str, Any]:
    """Poll the API until the objective has been evaluated over ``total`` events."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = objective(sidecar)
        if last and last["budget"]["total"] == total:
            return dict(last["budget"])
        time.sleep(0.05)
    raise AssertionError(f"budget total never reached {total}; last: {last}\n{sidecar.log()}")


def saved(store: Path) -> tuple[int, int, int] | None:
    """(updated_ns, good, total) of the persisted "shop" state, read-only; None before any."""
    if not store.exists():
        return None
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        row = db.execute(
            "SELECT updated_ns, body FROM component_state WHERE component = 'slo' AND name = 'shop'"
        ).fetchone()
    except sqlite3.OperationalError:  # the schema is not there yet
        return None
    finally:
        db.close()
    if row is None:
        return None
    counts = MinuteCounts.from_dict(json.loads(row[1])["counts"])
    if counts.head_minute is None:
        return row[0], 0, 0
    good, total = counts.sum(counts.oldest_minute, counts.head_minute + 1)
    return row[0], good, total


def wait_saved(store: Path, total: int, after_ns: int, timeout: float = 30.0) -> int:
    """Poll the store until the persisted counts hold ``total`` events; their updated_ns.

    The processor saves an objective only when it changed, so "saved after the budget was
    read" may never happen (the last save can precede the read); the counts are the test.
    """
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = saved(store)
        if last and last[2] == total:
            assert last[0] >= after_ns
            return last[0]
        time.sleep(0.05)
    raise AssertionError(f"state with {total} events never persisted; last: {last}")


def test_kill_9_and_restart_keeps_the_error_budget(tmp_path: Path) -> None:
    store = tmp_path / "slo.db"
    sent_ns = time.time_ns()
    first = start(tmp_path, store)
    second: SidecarProcess | None = None
    try:
        send_traces(first, requests_now())
        before = wait_budget(first, GOOD + BAD)
        assert before["good"] == GOOD and before["bad"] == BAD
        assert before["error_budget_remaining"] == pytest.approx(0.25)
        updated_ns = wait_saved(store, GOOD + BAD, after_ns=sent_ns)

        first.process.kill()  # SIGKILL: no drain, no final flush
        assert first.process.wait(10) == -9

        second = start(tmp_path, store)
        after = wait_budget(second, GOOD + BAD)
        # exact: no traffic since, and the whole 30-day window is kept; one minute's
        # aggregation is the most a restart may shift it by
        assert after["total"] == before["total"]
        assert after["good"] == before["good"]
        assert after["error_budget_remaining"] == pytest.approx(
            before["error_budget_remaining"], abs=1e-12
        )
        assert after["sli"] == pytest.approx(before["sli"])
        assert updated_ns > sent_ns
        assert second.stop() == 0, second.log()
    finally:
        if first.process.poll() is None:
            first.process.kill()
            first.process.wait()
        if second is not None:
            second.stop()
