"""The windows and assembly progress through a restart on a file store (``saved.py``):
the same findings and snapshot as without a restart, late spans still recognised, the
bounds kept, throttled writes, and a damaged or older document starts empty, once
logged and counted."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from test_bottlenecks_processor import S, consume, in_trace, n_plus_one_trace, server

from otel_perf.component import Context
from otel_perf.findings import Finding
from otel_perf.processors.bottlenecks.config import BottlenecksConfig
from otel_perf.processors.bottlenecks.processor import WINDOWS, BottlenecksProcessor
from otel_perf.processors.bottlenecks.saved import window_from_dict, window_to_dict
from otel_perf.store import Store

SETTINGS: dict[str, Any] = {
    "trace_quiet_time": 1,
    "min_traces": 1,
    "slow_request_threshold": 0.1,
}


def make(store: Store, **settings: Any) -> BottlenecksProcessor:
    processor = BottlenecksProcessor(
        Context("bottlenecks", store), BottlenecksConfig(**{**SETTINGS, **settings})
    )
    processor.start()
    return processor


def first_half(processor: BottlenecksProcessor) -> list[Finding]:
    """Two windows' worth: one evaluated (the N+1 opens), the next one half filled."""
    for n in range(6):
        consume(processor, *n_plus_one_trace(n, 1_000 + n * 1_000))
    processor.tick(10 * S)
    opened = processor.tick(60 * S)
    for n in range(6, 9):
        consume(processor, *n_plus_one_trace(n, 61_000 + n * 1_000))
    processor.tick(75 * S)  # analysed into window 1
    return opened


def second_half(processor: BottlenecksProcessor) -> list[Finding]:
    """Requests without the N+1: it stays open on the first half's evidence alone."""
    for n in range(9, 12):
        at = 61_000 + n * 1_000
        consume(processor, *in_trace(n, [server("root", None, at, at + 50, "/orders")]))
    processor.tick(80 * S)
    return processor.tick(120 * S)


def dumped(findings: list[Finding]) -> list[dict[str, Any]]:
    return [f.model_dump(mode="json") for f in findings]


def test_a_restart_mid_window_says_and_shows_what_no_restart_does(tmp_path: Path) -> None:
    reference = make(Store(":memory:"))
    assert "n_plus_one" in [f.kind for f in first_half(reference)]
    expected = second_half(reference)
    assert "n_plus_one" not in [f.kind for f in expected]  # not resolved: still open
    path = tmp_path / "state.db"
    before = make(Store(path))
    first_half(before)
    before.flush(75 * S)
    before.shutdown()
    before.context.store.close()

    after = make(Store(path))
    assert after.window is not None and after.window.traces == 3
    assert dumped(second_half(after)) == dumped(expected)
    assert after.snapshot() == reference.snapshot()
    assert after.snapshot()["state_discarded"] == 0


def test_a_late_span_of_a_trace_analysed_before_the_restart_is_still_late(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    before = make(Store(path))
    first_half(before)
    before.shutdown()
    before.context.store.close()
    after = make(Store(path))
    analysed = after.traces_analysed
    consume(after, *in_trace(7, [server("again", None, 70_000, 70_100, "/orders")]))
    after.tick(100 * S)
    assert after.snapshot()["late_spans"] == 1
    assert after.traces_analysed == analysed == 9


def test_the_saved_window_survives_json_and_keeps_the_bounds_it_is_loaded_with() -> None:
    processor = make(Store(":memory:"))
    first_half(processor)
    window = processor.window
    assert window is not None and window.slow and window.patterns and window.queries
    body = json.loads(json.dumps(window_to_dict(window)))
    again = window_from_dict(body, window)
    assert window_to_dict(again) == window_to_dict(window)
    small = processor._new_window(0)
    small.max_operations = 1
    small.ops.limit = 1
    cut = window_from_dict(body, small)
    assert len(window.ops) > 1
    assert len(cut.ops) == 1
    assert cut.ops.overflowed == len(window.ops) - 1


def test_windows_are_written_once_per_save_interval_and_at_shutdown() -> None:
    store = Store(":memory:")
    processor = make(store, save_interval=30)
    first_half(processor)
    processor.flush(75 * S)
    assert store.load_state("bottlenecks", WINDOWS)["current"]["traces"] == 3
    for n in range(9, 12):
        consume(processor, *n_plus_one_trace(n, 61_000 + n * 1_000))
    processor.tick(80 * S)
    processor.flush(80 * S)  # within the interval: not written
    assert store.load_state("bottlenecks", WINDOWS)["current"]["traces"] == 3
    processor.flush(105 * S)
    assert store.load_state("bottlenecks", WINDOWS)["current"]["traces"] == 6


DAMAGED = [
    pytest.param({"version": 0, "windows": []}, id="older version"),
    pytest.param(
        {"version": 1, "previous": {"start_ns": 0}, "current": None, "done": [], "counters": {}},
        id="window without its maps",
    ),
    pytest.param(
        {"version": 1, "previous": None, "current": None, "done": ["zz"], "counters": {}},
        id="trace id not hex",
    ),
]


@pytest.mark.parametrize("document", DAMAGED)
def test_a_damaged_or_older_document_starts_empty_logged_once_and_counted(
    document: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(":memory:")
    store.save_state("bottlenecks", WINDOWS, document, 1)
    with caplog.at_level(logging.WARNING):
        processor = make(store)
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "bottlenecks" in caplog.records[0].getMessage()
    assert processor.window is None and processor.previous is None
    assert processor.snapshot()["state_discarded"] == 1
    assert processor.snapshot()["traces_analysed"] == 0
    first_half(processor)  # and it works as new
    assert processor.window is not None and processor.window.traces == 3


def test_a_saved_map_longer_than_memory_holds_is_damaged(caplog: pytest.LogCaptureFixture) -> None:
    store = Store(":memory:")
    processor = make(store)
    first_half(processor)
    processor.flush(75 * S)
    document = store.load_state("bottlenecks", WINDOWS)
    _, op = document["current"]["ops"]["items"][0]
    op["exemplars"] = [10**6, [[i, f"{i:032x}"] for i in range(10**3)]]
    store.save_state("bottlenecks", WINDOWS, document, 76 * S)
    with caplog.at_level(logging.WARNING):
        again = make(store)
    assert again.window is None and again.snapshot()["state_discarded"] == 1
    assert "exemplars" in caplog.records[0].getMessage()
