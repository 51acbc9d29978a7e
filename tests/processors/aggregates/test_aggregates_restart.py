"""The analysis tier restarted through its store goes on where it left off: open intervals,
watermarks, rollups, bottlenecks windows and counters come back; a damaged document is
dropped, logged once and counted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from otel_perf.component import Context
from otel_perf.decode import Decoder
from otel_perf.exporters.aggregates.encode import interval_request, watermark_request
from otel_perf.histogram import ExponentialHistogram
from otel_perf.processors.aggregates.config import AggregatesConfig
from otel_perf.processors.aggregates.processor import AggregatesProcessor
from otel_perf.series import RED, SeriesHub, SeriesInterval, SeriesKey
from otel_perf.store import Store

S = 1_000_000_000
START = 1_700_000_000 * S
KEY = SeriesKey("checkout", "GET /x", 2, (("http.route", "/x"), ("service.version", "1.0")))


def red(values_s: np.ndarray) -> RED:
    hist = ExponentialHistogram()
    hist.record_many(values_s)
    return RED(len(values_s), 0, hist, {})


class Tier:
    """One analysis-tier processor on a file store, and what it published."""

    def __init__(self, path: Path) -> None:
        self.store = Store(path)
        self.published: list[SeriesInterval] = []
        hub = SeriesHub()
        hub.subscribe(self.published.append)
        config = AggregatesConfig(expected_instances=2, grace=3600)
        self.processor = AggregatesProcessor(Context("aggregates", self.store, hub), config)
        self.processor.start()
        self.decoder = Decoder()

    def send(self, instance: str, start_ns: int, values_s: np.ndarray) -> None:
        interval = SeriesInterval(start_ns, start_ns + 10 * S, 10, {KEY: red(values_s)})
        request = interval_request(interval, instance)
        self.processor.consume_metrics(self.decoder.metrics(request)[0])

    def mark(self, instance: str, watermark_ns: int) -> None:
        request = watermark_request(instance, "spanmetrics", watermark_ns)
        self.processor.consume_metrics(self.decoder.metrics(request)[0])

    def stop(self, now_ns: int) -> None:
        self.processor.flush(now_ns)
        self.processor.shutdown()
        self.store.close()


def run(values: list[np.ndarray], tmp_path: Path, restart: bool) -> Tier:
    """Two instances, two intervals; a restart (or none) half-way through the second."""
    tier = Tier(tmp_path / "a.db")
    tier.send("t0", START, values[0])
    tier.send("t1", START, values[1])
    tier.mark("t0", START + 10 * S)
    tier.mark("t1", START + 10 * S)
    tier.processor.tick(START + 10 * S)  # the first interval closes, into the rollups
    tier.send("t0", START + 10 * S, values[2])
    if restart:
        tier.stop(START + 11 * S)
        published = tier.published
        tier = Tier(tmp_path / "a.db")
        tier.published[:0] = published
    tier.send("t1", START + 10 * S, values[3])
    tier.mark("t0", START + 20 * S)
    tier.mark("t1", START + 20 * S)
    tier.processor.tick(START + 20 * S)
    tier.processor.finish(START + 20 * S)  # closes the 1 min and 1 h rollups
    return tier


def test_a_restart_mid_interval_publishes_what_no_restart_does(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    values = [rng.lognormal(-3, 1.0, size=500) for _ in range(4)]
    (tmp_path / "same").mkdir()
    same = run(values, tmp_path / "same", restart=False)
    again = run(values, tmp_path, restart=True)
    by_resolution = {
        tier: {(p.start_ns, p.resolution_s): p for p in tier.published} for tier in (same, again)
    }
    assert sorted(by_resolution[again]) == sorted(by_resolution[same])
    assert [k[1] for k in sorted(by_resolution[again])].count(60) == 1
    for bounds, interval in by_resolution[same].items():
        ((key, want),) = interval.values.items()
        got = by_resolution[again][bounds].values[key]
        assert (got.calls, got.errors) == (want.calls, want.errors)
        assert got.duration_s == want.duration_s, bounds
    second = by_resolution[again][(START + 10 * S, 10)]
    assert second.values[next(iter(second.values))].calls == 1000  # both instances' parts
    assert second.versions[next(iter(second.values))]["1.0"].calls == 1000
    view, expected = again.processor.snapshot(), same.processor.snapshot()
    assert view == expected and view["state_discarded"] == 0
    assert view["closed_until_ns"] == START + 20 * S and view["points"] == 12


@pytest.mark.parametrize(
    "body",
    [
        {"open": "nothing", "marks": {}},
        {
            "open": [{"start_ns": 0, "end_ns": 10, "series": [{"key": {}, "red": {}}]}],
            "marks": {},
            "closed_ns": 0,
            "counters": {},
            "last_rejection": "",
            "windows": [],
            "rollups": [],
        },
        {
            "open": [],
            "marks": {},
            "closed_ns": 0,
            "counters": {},
            "last_rejection": "",
            "windows": [],
            "rollups": [
                [
                    {
                        "start_ns": 0,
                        "end_ns": 60,
                        "series": [
                            {
                                "key": {
                                    "service": "a",
                                    "operation": "b",
                                    "span_kind": 2,
                                    "dims": [],
                                },
                                "red": {"calls": 1, "errors": 0, "duration_s": {"scale": 99}},
                            }
                        ],
                    }
                ]
            ],
        },
    ],
)
def test_a_damaged_document_starts_empty_and_is_counted(
    tmp_path: Path, body: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(tmp_path / "a.db")
    store.save_state("aggregates", "open", body, START)
    store.close()
    tier = Tier(tmp_path / "a.db")
    view = tier.processor.snapshot()
    assert view["state_discarded"] == 1
    assert (view["open_intervals"], view["closed_until_ns"], view["points"]) == (0, 0, 0)
    assert tier.processor.rollups[0].open == {}
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "saved state 'open' unreadable" in warning.getMessage()
    tier.send("t0", START, np.array([0.1]))  # and goes on from empty
    assert tier.processor.snapshot()["open_intervals"] == 1
