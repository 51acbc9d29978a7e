"""The regression processor: baselines and runs, version comparisons, change points, state."""

from __future__ import annotations

import logging
import random

import numpy as np
import pytest
from trace_builder import span

from otel_perf.component import Context
from otel_perf.findings import Kind
from otel_perf.histogram import ExponentialHistogram
from otel_perf.model import SpanBatch, SpanKind
from otel_perf.processors.regression.baselines import Reservoir
from otel_perf.processors.regression.config import RegressionConfig
from otel_perf.processors.regression.processor import RegressionProcessor
from otel_perf.series import RED, SeriesHub, SeriesInterval, SeriesKey
from otel_perf.store import Store

NS = 1_000_000_000


def latencies(n: int, median_ms: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [median_ms * rng.lognormvariate(0, 0.2) for _ in range(n)]


def make(
    store: Store | None = None, hub: SeriesHub | None = None, **settings: object
) -> RegressionProcessor:
    context = Context("regression", store or Store(":memory:"), hub or SeriesHub())
    processor = RegressionProcessor(context, RegressionConfig.model_validate(settings))
    processor.start()
    return processor


def test_baseline_then_run_stores_the_verdict() -> None:
    p = make()
    baseline = p.service.establish_baseline("checkout", latencies(300, 100, 1), now_ns=1)
    assert baseline.count == 300 and 90 < baseline.summary["p50"] < 110
    verdict = p.service.run_regression_test("checkout", latencies(300, 130, 2), now_ns=2)
    assert verdict.outcome == "regression"
    assert 0.2 < verdict.relative_shift < 0.4 and verdict.hl_low > 0
    run = p.held.runs.last("checkout")
    assert run is not None and run["outcome"] == "regression" and run["time_ns"] == 2
    found = p.tick(3)
    assert [f.kind for f in found] == [Kind.REGRESSION_DETECTED]
    assert p.service.run_regression_test("checkout", latencies(300, 100, 3)).outcome == "pass"
    assert p.service.run_regression_test("checkout", latencies(300, 70, 4)).outcome == "improvement"
    analysis = p.service.analysis()
    assert analysis["baselines"][0]["last_run"]["outcome"] == "improvement"
    assert analysis["baselines"][0]["runs"] == 3


def test_too_few_samples_is_inconclusive() -> None:
    p = make()
    p.service.establish_baseline("small", latencies(10, 100, 1))
    verdict = p.service.run_regression_test("small", latencies(10, 300, 2))
    assert verdict.outcome == "inconclusive" and "need 30" in verdict.reason
    assert p.tick(1) == []


def version_spans(version: str, operation: str, values_ms: list[float], t0_ms: float) -> list:
    return [
        span(
            i,
            None,
            t0_ms + i * 1000,
            t0_ms + i * 1000 + v,
            name=operation,
            service="shop",
            kind=SpanKind.SERVER,
            resource_attrs={"service.version": version},
        )
        for i, v in enumerate(values_ms)
    ]


def test_slower_endpoint_in_new_version_is_one_regression_naming_the_pair() -> None:
    p = make(version_window=100)
    for version, slow, seed, t0 in (("1.0", 50.0, 1, 0.0), ("2.0", 80.0, 2, 1e6)):
        spans = version_spans(version, "GET /cart", latencies(150, slow, seed), t0)
        spans += version_spans(version, "GET /items", latencies(150, 20, seed + 10), t0)
        p.consume_spans(SpanBatch(spans))
    found = p.tick(2 * NS)
    assert len(found) == 1, [f.summary for f in found]
    finding = found[0]
    assert finding.kind == Kind.REGRESSION_DETECTED and finding.service == "shop"
    assert finding.attributes["operation"] == "GET /cart"
    assert (finding.attributes["old_version"], finding.attributes["new_version"]) == ("1.0", "2.0")
    assert "1.0" in finding.summary and "2.0" in finding.summary
    assert finding.attributes["hl_low"] > 0
    outcomes = {c["operation"]: c["outcome"] for c in p.service.analysis()["version_comparisons"]}
    assert outcomes == {"GET /cart": "regression", "GET /items": "pass"}
    assert p.tick(3 * NS) == []  # each pair is judged once


def test_version_change_with_few_samples_waits_then_is_inconclusive_at_finish() -> None:
    p = make(version_window=100)
    p.consume_spans(SpanBatch(version_spans("1", "GET /", latencies(50, 10, 1), 0)))
    p.consume_spans(SpanBatch(version_spans("2", "GET /", latencies(5, 10.5, 2), 1e6)))
    assert p.tick(1) == []
    assert p.finish(2) == []
    assert p.service.analysis()["version_comparisons"][0]["outcome"] == "inconclusive"


def test_a_large_regression_is_called_by_the_sequential_test_before_the_window_fills() -> None:
    p = make(version_window=200)
    p.consume_spans(SpanBatch(version_spans("1", "GET /", latencies(200, 10, 1), 0)))
    new = latencies(200, 15, 2)  # +50 %
    called_at = None
    for i, value in enumerate(new):
        p.consume_spans(SpanBatch(version_spans("2", "GET /", [value], 1e6 + i * 1000)))
        found = p.tick(i)
        if found:
            called_at = i + 1
            break
    assert called_at is not None and called_at <= 50
    (finding,) = found
    assert finding.kind == Kind.REGRESSION_DETECTED
    assert finding.attributes["samples_to_verdict"] == called_at
    assert finding.attributes["certainty"] > 0.98
    assert "sequential" in finding.attributes["reason"]
    assert p.finish(10**9) == []  # judged once


def interval(end_s: int, p95_ms: float, seed: int) -> SeriesInterval:
    hist = ExponentialHistogram()
    for value in latencies(50, p95_ms, seed):
        hist.record(value / 1000)
    red = RED(calls=50, errors=0, duration_s=hist)
    key = SeriesKey("shop", "GET /cart", SpanKind.SERVER)
    return SeriesInterval((end_s - 10) * NS, end_s * NS, 10, {key: red})


def test_level_shift_of_p95_is_a_change_point_with_levels() -> None:
    hub = SeriesHub()
    p = make(hub=hub, changepoint_window=40, changepoint_min_size=5, baseline_intervals=0)
    for i in range(40):
        hub.publish(interval(10 * (i + 1), 100.0 if i < 20 else 200.0, i))
    found = p.tick(1)
    assert [f.kind for f in found] == [Kind.REGRESSION_DETECTED]
    point = p.service.analysis()["change_points"][0]
    assert point["before_ms"] < 150 < point["after_ms"]
    trend = p.service.trend_of("shop GET /cart")
    assert trend is not None and trend["trend"]["direction"] == "increasing"


def test_automatic_baseline_after_the_first_intervals() -> None:
    hub = SeriesHub()
    p = make(hub=hub, baseline_intervals=3)
    p.consume_spans(SpanBatch(version_spans("1", "GET /cart", latencies(60, 100, 1), 0)))
    for i in range(3):
        assert "auto:shop GET /cart" not in p.held.baselines
        hub.publish(interval(10 * (i + 1), 100.0, i))
    baseline = p.held.baselines["auto:shop GET /cart"]
    assert baseline.count == 60 and baseline.source.startswith("auto")
    names = {(n, a["test"]) for n, _, a in p.gauges()}
    assert ("otel_perf.regression.relative_change", "auto:shop GET /cart") in names


def test_state_round_trips_through_the_store() -> None:
    store = Store(":memory:")
    p = make(store)
    p.service.establish_baseline("b", latencies(100, 10, 1))
    p.service.run_regression_test("b", latencies(100, 10, 2))
    p.flush(10 * NS)
    again = make(store)
    assert again.held.baselines["b"].samples == p.held.baselines["b"].samples
    assert again.held.runs.of("b") == p.held.runs.of("b")


def test_damaged_or_older_saved_documents_start_empty_and_are_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A baseline whose histogram does not fit and a versions document of another shape
    start empty, counted in ``state_discarded``; the other baseline and the runs load."""
    store = Store(":memory:")
    p = make(store)
    for name in ("a", "b"):
        p.service.establish_baseline(name, latencies(100, 10, 1))
    p.service.run_regression_test("b", latencies(100, 10, 2))
    p.flush(10 * NS)
    saved = store.load_state("regression", "baseline/a")
    assert saved is not None and store.load_state("regression", "versions") is None
    store.save_state("regression", "baseline/a", {**saved, "histogram": {"scale": 99}}, 11)
    store.save_state("regression", "versions", {"tracker": [1, 2]}, 11)
    with caplog.at_level(logging.WARNING):
        again = make(store)
    assert again.snapshot()["state_discarded"] == 2
    assert sorted(again.held.baselines) == ["b"]
    assert again.held.runs.of("b") == p.held.runs.of("b")
    assert len([r for r in caplog.records if "state_discarded" in r.getMessage()]) == 1


def test_reservoir_is_bounded_and_seeded() -> None:
    a, b = Reservoir(10, seed=3), Reservoir(10, seed=3)
    a.extend(range(1000))
    b.extend(range(1000))
    assert len(a.values) == 10 and a.values == b.values and a.seen == 1000


def test_reservoir_keeps_every_value_equally_often() -> None:
    """Algorithm R: after 100 values each is in a size-10 reservoir with chance 1/10; over
    3,000 seeds the counts per position fit that (chi-square), early and late alike."""
    from scipy import stats

    counts = np.zeros(100)
    for seed in range(3000):
        reservoir = Reservoir(10, seed=seed)
        reservoir.extend(range(100))
        counts[np.array(reservoir.values, dtype=int)] += 1
    assert counts.sum() == 30_000
    assert stats.chisquare(counts).pvalue > 0.001
    assert abs(counts[:50].sum() - counts[50:].sum()) < 0.05 * counts.sum()


def test_reservoir_generator_state_is_small() -> None:
    import tracemalloc

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = [Reservoir(1000, seed=i) for i in range(1000)]
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(kept) == 1000 and used < 200 * 1000  # a random.Random alone is ~2.5 KiB


def test_baselines_by_name_are_bounded() -> None:
    processor = RegressionProcessor(
        Context("regression", Store(":memory:")), RegressionConfig(max_series=2)
    )
    processor.service.establish_baseline("a", [1.0] * 40)
    processor.service.establish_baseline("b", [1.0] * 40)
    processor.service.establish_baseline("a", [2.0] * 40)  # replacing one is fine
    with pytest.raises(ValueError, match="max_series"):
        processor.service.establish_baseline("c", [1.0] * 40)
