"""The instrumentation processor on event time: categories, the verdict's three states, the
service bound, and a restart that keeps what was said."""

from __future__ import annotations

import doctest
from pathlib import Path
from typing import Any

import pytest

from otel_perf.component import Context
from otel_perf.findings import State
from otel_perf.model import (
    LogBatch,
    LogRecordData,
    Resource,
    SpanBatch,
    SpanKind,
    SpanRecord,
)
from otel_perf.processors.instrumentation.config import InstrumentationConfig
from otel_perf.processors.instrumentation.coverage import category
from otel_perf.processors.instrumentation.processor import InstrumentationProcessor
from otel_perf.store import Store

NS = 1_000_000_000
MS = 1_000_000
T0 = 1_700_000_000 * NS


def make(store: Store | None = None, **settings: Any) -> InstrumentationProcessor:
    config = InstrumentationConfig.model_validate({"window": "1m", **settings})
    processor = InstrumentationProcessor(
        Context("instrumentation", store or Store(":memory:")), config
    )
    processor.start()
    return processor


def span(service: str, kind: int, end_ns: int, ms: int = 200, **attrs: Any) -> SpanRecord:
    return SpanRecord(
        b"t" * 16, b"s" * 8, b"", Resource({"service.name": service}), "tests", "op", kind,
        end_ns - ms * MS, end_ns, 0, "", attrs,
    )  # fmt: skip


def traffic(processor: InstrumentationProcessor, service: str, seconds: int, exits: bool) -> int:
    """One server span a second (200 ms), with a DB span under it when ``exits``."""
    for i in range(seconds):
        end = T0 + i * NS
        spans = [span(service, SpanKind.SERVER, end)]
        if exits:
            spans.append(span(service, SpanKind.CLIENT, end - MS, 50, **{"db.system": "mysql"}))
        processor.consume_spans(SpanBatch(spans))
    return T0 + seconds * NS


def test_span_categories() -> None:
    assert category(SpanKind.CLIENT, {"db.system.name": "postgresql"}) == "db"
    assert category(SpanKind.CLIENT, {}) == "client"
    assert category(SpanKind.CONSUMER, {}) == "messaging"
    assert category(SpanKind.CLIENT, {"messaging.system": "kafka"}) == "messaging"
    assert category(SpanKind.INTERNAL, {}) == category(SpanKind.UNSPECIFIED, {}) == "internal"


def test_only_a_whole_window_without_exit_spans_and_long_server_time_is_a_finding() -> None:
    processor = make()
    end = traffic(processor, "legacy", 30, exits=False)
    traffic(processor, "shop", 90, exits=True)
    assert processor.tick(end) == []  # half a window: not judged yet
    assert processor.verdicts["legacy"].state == "unknown"
    end = traffic(processor, "legacy", 90, exits=False)
    (finding,) = processor.tick(end)
    assert finding.service == "legacy" and finding.severity == "info"
    assert finding.attributes["server_p95_ms"] >= 200 and finding.attributes["server_spans"] > 20
    assert processor.verdicts["shop"].state == "ok"
    assert processor.tick(end + NS) == []  # said once
    # a DB span arrives: the hint resolves
    processor.consume_spans(SpanBatch([span("legacy", SpanKind.CLIENT, end + 2 * NS, 5)]))
    (resolved,) = processor.tick(end + 3 * NS)
    assert resolved.state == State.RESOLVED and resolved.service == "legacy"


def test_traffic_that_stops_altogether_is_no_gap() -> None:
    """Bursts of requests with their DB spans, hours apart: the exits stop when the server
    spans do, so nothing is missing however long the quiet lasts."""
    processor = make()
    end = traffic(processor, "batch", 60, exits=True)
    assert processor.tick(end + 3 * 3600 * NS) == []
    assert processor.verdicts["batch"].state == "ok"


def test_short_server_spans_are_not_worth_a_hint() -> None:
    processor = make(min_self_time="500ms")
    end = traffic(processor, "static", 120, exits=False)
    assert processor.tick(end) == [] and processor.verdicts["static"].state == "ok"


def test_services_are_bounded_and_the_rest_counted() -> None:
    processor = make(max_services=2)
    for name in ("a", "b", "c"):
        processor.consume_spans(SpanBatch([span(name, SpanKind.SERVER, T0)]))
    record = LogRecordData(Resource({"service.name": "d"}), T0, 9, "", "x", {}, "", b"", b"")
    processor.consume_logs(LogBatch([record, record]))
    snap = processor.snapshot()
    assert list(snap["services"]) == ["a", "b"]
    assert snap["overflowed"] == {"traces": 1, "metrics": 0, "logs": 2}


def test_a_restart_keeps_what_was_seen_and_said(tmp_path: Path) -> None:
    reference = make()
    end = traffic(reference, "legacy", 120, exits=False)
    assert len(reference.tick(end)) == 1
    processor = make(Store(tmp_path / "s.db"))
    traffic(processor, "legacy", 120, exits=False)
    assert len(processor.tick(end)) == 1
    processor.flush(end)
    processor.shutdown()
    processor.context.store.close()
    again = make(Store(tmp_path / "s.db"))
    assert again.snapshot()["services"]["legacy"]["spans"]["server"]["count"] == 120
    # the windows came back: the same verdict on the same spans, the finding stays open
    assert again.tick(end + NS) == reference.tick(end + NS) == []
    assert again.verdicts["legacy"] == reference.verdicts["legacy"]
    assert again.verdicts["legacy"].state == "gap"
    assert again.snapshot() == reference.snapshot()


def test_a_document_saved_before_the_windows_were_still_loads(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    seen = {"count": 3, "first_ns": T0, "last_ns": T0 + NS}
    store.save_state(
        "instrumentation", "coverage", {"api": {"signals": {}, "spans": {"server": seen}}}, T0
    )
    processor = make(store)
    snap = processor.snapshot()
    assert snap["services"]["api"]["spans"]["server"]["count"] == 3
    assert snap["state_discarded"] == 0 and processor.services["api"].windows == {}


@pytest.mark.parametrize(
    "body",
    [
        {"api": {"signals": {}, "spans": {"server": {"count": "many"}}}},
        {"api": {"signals": {}, "spans": {}, "windows": {"0": {"scale": 0}}}},
        {"api": {"signals": {}, "spans": {}, "windows": {"soon": {}}}},
        ["not", "a", "map"],
    ],
)
def test_a_damaged_document_starts_empty_and_is_counted(
    tmp_path: Path, body: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(tmp_path / "s.db")
    store.save_state("instrumentation", "coverage", body, T0)
    processor = make(store)
    snap = processor.snapshot()
    assert snap["services"] == {} and snap["state_discarded"] == 1
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "saved state 'coverage' unreadable" in warning.getMessage()
    end = traffic(processor, "legacy", 120, exits=False)
    assert len(processor.tick(end)) == 1  # and judges from empty


def test_the_docstring_examples_hold() -> None:
    from otel_perf.processors.instrumentation import coverage

    failed, tried = doctest.testmod(coverage)
    assert tried > 0 and failed == 0
