"""Span metrics' saved open state: version 3 blocks, what main saved, damage, no idle writes."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from test_spanmetrics import T0, span
from test_store_faults import read_only

from otel_perf.model import SpanBatch
from otel_perf.processors.spanmetrics.processor import SpanMetricsProcessor
from otel_perf.processors.spanmetrics.saved import legacy_document
from otel_perf.store import StoreWriteError

S = 1_000_000_000
MAIN = Path(__file__).parent / "testdata" / "saved_by_main.json"  # written at T0
SETTINGS = {"late_grace": "0s", "latency_thresholds": [0.05, 0.2]}


def held(processor: SpanMetricsProcessor) -> dict[str, Any]:
    """The open state, each RED as its ``to_dict`` (the form main saved)."""
    processor.windows.settle()
    rollups = [r.open for r in processor.rollups]
    document = legacy_document(processor.windows.watermark_ns, processor.windows.open, rollups)
    return json.loads(json.dumps(document))  # within's float keys as the JSON has them


def traffic(processor: SpanMetricsProcessor) -> None:
    """Three services' spans over 0-81 s, ticked at 85 s: a closed minute in the hour, an
    open minute and an open base interval, latency thresholds and errors."""
    spans = [
        span(s * 10 + 1 + i, 3.0 + 41 * i + s, service, status=2 * (i == 2))
        for s in range(9)
        for i in range(1 + s % 3)
        for service in ("shop", "cart", "db")
    ]
    processor.consume_spans(SpanBatch(spans))
    processor.tick(T0 + 85 * S)


def test_a_state_saved_by_main_loads_whole_and_saves_again_as_blocks(make: Any) -> None:
    saved_by_main = json.loads(MAIN.read_text())
    make.store.save_state("spanmetrics", "open", saved_by_main, T0 + 85 * S)
    restored = make(**SETTINGS)
    assert held(restored) == saved_by_main and restored.state_discarded == 0
    restored.mark_changed()
    restored.flush(T0 + 86 * S)
    written = make.store.load_state("spanmetrics", "open")
    assert written["version"] == 3
    again = make(**SETTINGS)
    assert held(again) == saved_by_main and again.state_discarded == 0
    again.tick(T0 + 3600 * S)  # every window closes, as it would have without restarts
    (hour,) = [i for i in make.published if i.resolution_s == 3600]
    calls = {k.service: red.calls for k, red in hour.values.items()}
    assert calls == {"shop": 30, "db": 9}  # every span main's code was sent


def test_open_windows_and_rollups_round_trip_exactly(make: Any) -> None:
    first = make(**SETTINGS)
    traffic(first)
    first.flush(T0 + 85 * S)
    before = held(first)
    assert before["open"] and all(before["rollups"])  # a window of each kind held
    again = make(**SETTINGS)
    assert held(again) == before
    # the blocks' arrays, not an object per series: far smaller than what main wrote
    written = json.dumps(make.store.load_state("spanmetrics", "open"))
    assert len(written) * 2 < len(json.dumps(before))


def test_nothing_is_written_when_nothing_changed(make: Any) -> None:
    processor = make(**SETTINGS)
    traffic(processor)
    processor.flush(T0 + 85 * S)
    marker = {"written": "by the test"}
    make.store.save_state("spanmetrics", "open", marker, T0 + 85 * S)
    processor.tick(T0 + 85 * S + S // 2)  # the watermark stays: nothing closes
    processor.flush(T0 + 86 * S)
    assert make.store.load_state("spanmetrics", "open") == marker
    processor.tick(T0 + 90 * S)  # the interval [80, 90) closes
    processor.flush(T0 + 90 * S)
    assert make.store.load_state("spanmetrics", "open")["version"] == 3
    make.store.save_state("spanmetrics", "open", marker, T0 + 90 * S)
    processor.consume_spans(SpanBatch([span(91, 5.0)]))
    processor.flush(T0 + 92 * S)
    assert make.store.load_state("spanmetrics", "open")["version"] == 3


def test_a_refused_write_is_tried_again_at_the_next_flush(make: Any) -> None:
    processor = make(**SETTINGS)
    traffic(processor)
    read_only(make.store)
    with pytest.raises(StoreWriteError):  # the pipeline counts it against the processor
        processor.flush(T0 + 85 * S)
    read_only(make.store, on=False)
    assert make.store.load_state("spanmetrics", "open") is None
    processor.flush(T0 + 95 * S)  # no spans since: written all the same
    assert held(make(**SETTINGS)) == held(processor)


DAMAGE = [
    (
        lambda d: d["rollups"][1][0][1]["histograms"]["positive"].update(starts="i8:!!"),
        "$.rollups[1][0][1].histograms.positive.starts: not base64",
    ),
    (
        lambda d: d["rollups"][1][0][1]["histograms"]["positive"].update(starts="i8:"),
        "$.rollups[1][0][1].histograms.positive.starts: expected 4 values, got 0",
    ),
    (
        lambda d: d["rollups"][1][0][1].update(calls="f8:" + d["rollups"][1][0][1]["calls"][3:]),
        "$.rollups[1][0][1].calls: dtype 'f8' is not one of i8",
    ),
    (
        lambda d: d["rollups"][1][0][1]["keys"].update(strings=[]),
        "$.rollups[1][0][1].keys.dims_table[0]: expected name, value pairs of ids in [0, 0)",
    ),
    (
        lambda d: d["rollups"][1][0][1]["histograms"].pop("negative"),
        "$.rollups[1][0][1].histograms.negative: missing",
    ),
    (
        lambda d: d["rollups"][1][0].__setitem__(0, "soon"),
        "$.rollups[1][0][0]: expected a whole number, got 'soon'",
    ),
]


@pytest.mark.parametrize(("damage", "message"), DAMAGE)
def test_a_damaged_window_is_named_and_left_out_and_nothing_else_is_lost(
    make: Any, caplog: pytest.LogCaptureFixture, damage: Any, message: str
) -> None:
    first = make(**SETTINGS)
    traffic(first)
    first.flush(T0 + 85 * S)
    before = held(first)
    document = make.store.load_state("spanmetrics", "open")
    damage(document)
    make.store.save_state("spanmetrics", "open", document, T0 + 85 * S)
    with caplog.at_level(logging.WARNING):
        again = make(**SETTINGS)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert message in warning and "left out" in warning
    assert again.state_discarded == 1
    assert held(again) == {**before, "rollups": [before["rollups"][0], []]}


def test_a_document_that_cannot_be_read_at_all_starts_afresh_with_a_warning(
    make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    first = make(**SETTINGS)
    traffic(first)
    first.flush(T0 + 85 * S)
    document = make.store.load_state("spanmetrics", "open")
    make.store.save_state("spanmetrics", "open", {**document, "version": 4}, T0 + 85 * S)
    with caplog.at_level(logging.WARNING):
        again = make(**SETTINGS)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "$.version: 4 is not a version this build reads" in warning
    assert again.state_discarded == 1 and not again.windows.open and again.windows.watermark_ns == 0
