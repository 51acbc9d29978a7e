"""Aggregates encoded by the trace tier, decoded and merged by the analysis tier, equal
what one instance recording every span would hold."""

from __future__ import annotations

import numpy as np

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


def red(values_s: np.ndarray, errors: int, thresholds: tuple[float, ...]) -> RED:
    hist = ExponentialHistogram()
    hist.record_many(values_s)
    within = {t: int(np.count_nonzero(values_s * 1e9 <= t * 1e9)) for t in thresholds}
    return RED(len(values_s), errors, hist, within)


def test_three_instances_merge_to_the_single_instance_red() -> None:
    rng = np.random.default_rng(3)
    values = rng.lognormal(-3, 1.0, size=3000)
    parts = np.array_split(values, 3)
    hub = SeriesHub()
    published: list[SeriesInterval] = []
    hub.subscribe(published.append)
    processor = AggregatesProcessor(
        Context("aggregates", Store(":memory:"), hub), AggregatesConfig(expected_instances=3)
    )
    decoder = Decoder()
    for i, part in enumerate(parts):
        interval = SeriesInterval(START, START + 10 * S, 10, {KEY: red(part, i, (0.05,))})
        processor.consume_metrics(decoder.metrics(interval_request(interval, f"t{i}"))[0])
        assert processor.tick(START + 10 * S) == [] and not published  # not all in yet
        mark = watermark_request(f"t{i}", "spanmetrics", START + 10 * S)
        processor.consume_metrics(decoder.metrics(mark)[0])
    processor.tick(START + 10 * S)
    (merged,) = [p for p in published if not p.rollup]
    assert merged.aggregated and (merged.start_ns, merged.resolution_s) == (START, 10)
    expected = red(values, 0 + 1 + 2, (0.05,))
    ((key, got),) = merged.values.items()
    assert key == SeriesKey("checkout", "GET /x", 2, (("http.route", "/x"),))
    assert (got.calls, got.errors, got.within) == (expected.calls, 3, expected.within)
    hist, want = got.duration_s, expected.duration_s
    assert hist.otlp_buckets().positive_counts == want.otlp_buckets().positive_counts
    assert (hist.scale, hist.min, hist.max) == (want.scale, want.min, want.max)
    assert hist.quantiles([0.5, 0.95, 0.99]) == want.quantiles([0.5, 0.95, 0.99])
    assert abs(hist.sum - want.sum) < 1e-9
    assert merged.versions[key]["1.0"].calls == 3000
    assert processor.snapshot()["rejected_points"] == 0


def test_a_late_contribution_is_counted_not_merged() -> None:
    hub = SeriesHub()
    processor = AggregatesProcessor(
        Context("aggregates", Store(":memory:"), hub),
        AggregatesConfig(expected_instances=2, grace=0),
    )
    decoder = Decoder()
    interval = SeriesInterval(START, START + 10 * S, 10, {KEY: red(np.array([0.1]), 0, ())})
    processor.consume_metrics(decoder.metrics(interval_request(interval, "t0"))[0])
    processor.tick(START + 10 * S)  # grace 0: closes with one instance's part
    processor.consume_metrics(decoder.metrics(interval_request(interval, "t1"))[0])
    snap = processor.snapshot()
    assert (snap["closed_intervals"], snap["late_points"]) == (1, 2)  # calls + duration
