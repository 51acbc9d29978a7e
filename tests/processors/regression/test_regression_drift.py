"""Version verdicts robust to a change of load: the canary overlap and the control routes."""

from __future__ import annotations

import random

from trace_builder import span

from otel_perf.component import Context
from otel_perf.findings import Kind
from otel_perf.model import SpanBatch, SpanKind, SpanRecord
from otel_perf.processors.regression import drift
from otel_perf.processors.regression.config import RegressionConfig
from otel_perf.processors.regression.processor import RegressionProcessor
from otel_perf.processors.regression.release import judge_release
from otel_perf.series import SeriesHub
from otel_perf.store import Store

NS = 1_000_000_000
ROUTES = {"GET /search": 40.0, "GET /cart": 20.0, "GET /items": 30.0, "GET /user": 25.0}


def make(**settings: object) -> RegressionProcessor:
    context = Context("regression", Store(":memory:"), SeriesHub())
    processor = RegressionProcessor(context, RegressionConfig.model_validate(settings))
    processor.start()
    return processor


def request(i: int, route: str, version: str, value_ms: float) -> SpanRecord:
    """Request ``i`` starts at ``i`` seconds."""
    return span(
        i,
        None,
        i * 1000.0,
        i * 1000.0 + value_ms,
        name=route,
        service="shop",
        kind=SpanKind.SERVER,
        resource_attrs={"service.version": version},
    )


def judge_all(p: RegressionProcessor, batches: list[list[SpanRecord]]) -> list[str]:
    """Feed one batch a tick, as the pipeline would; the findings' subjects, in order."""
    found = []
    for tick, batch in enumerate(batches):
        p.consume_spans(SpanBatch(batch))
        found += p.tick(tick * NS)
    found += p.finish(len(batches) * NS)
    return [f"{f.kind.value} {f.attributes['operation']}" for f in found]


def test_a_global_slowdown_between_versions_blames_only_the_route_that_moved_more() -> None:
    """Machine load rises with the release: every route +50 %; the search also got slower
    in its code (x3 in all). Only the search is a regression; the others moved like the
    service and are judged relative to it (a before/after verdict would blame them all)."""
    rng = random.Random(7)
    p = make(version_window=120)
    batches, i = [], 0
    for version, load in (("1.0", 1.0), ("2.0", 1.5)):
        for _ in range(150):  # rounds: one request per route, interleaved in time
            batch = []
            for route, median_ms in ROUTES.items():
                code = 2.0 if version == "2.0" and route == "GET /search" else 1.0
                value = median_ms * load * code * rng.lognormvariate(0, 0.3)
                batch.append(request(i, route, version, value))
                i += 1
            batches.append(batch)
    found = judge_all(p, batches)
    assert found == [f"{Kind.REGRESSION_DETECTED.value} GET /search"]
    comparisons = {c["operation"]: c for c in p.service.analysis()["version_comparisons"]}
    assert set(comparisons) == set(ROUTES)
    for route in ROUTES.keys() - {"GET /search"}:
        c = comparisons[route]
        assert c["outcome"] == "pass" and c["basis"] == "control", c
        assert c["unadjusted_outcome"] == "regression"  # what the drift alone would say
        assert 0.3 < c["environment_drift"] < 0.7
        assert "environment changed" in c["verdict"]["reason"]


def test_versions_that_ran_at_once_are_compared_on_their_overlap() -> None:
    """A canary: 1.0 alone, then 1.0 and 2.0 side by side (one request in five on 2.0) while
    the machine's load falls by a third. 2.0 is no slower; its first samples span the busy
    start of the canary, 1.0's last ones only the quiet end, so before/after they differ."""
    rng = random.Random(3)
    p = make(version_window=200)
    batches, i = [], 0
    for step in range(1300):
        canary = step >= 300
        version = "2.0" if canary and step % 5 == 0 else "1.0"
        load = 1.5 if 300 <= step < 800 else 1.0
        value = 40.0 * load * rng.lognormvariate(0, 0.2)
        batches.append([request(i, "GET /", version, value)])
        i += 1
    found = judge_all(p, batches)
    assert found == []
    (c,) = p.service.analysis()["version_comparisons"]
    assert c["basis"] == "canary" and c["outcome"] == "pass", c
    samples = p.held.versions.samples[("shop", "GET /")]
    before_after = judge_release(list(samples["1.0"].tail), samples["2.0"].head)
    assert before_after.outcome == "regression"  # the load, not the release


def test_the_control_is_the_median_of_three_other_routes_or_more() -> None:
    unchanged = ([10.0] * 40, [10.0] * 40)
    slower = ([10.0] * 40, [20.0] * 40)
    too_few_new = ([10.0] * 40, [10.0] * 5)
    pairs = {"a": unchanged, "b": slower, "c": unchanged, "d": too_few_new}
    shifts = drift.route_shifts(pairs, 30)
    assert set(shifts) == {"a", "b", "c"}  # d has 5 new samples
    assert drift.control_drift(shifts, "a") is None  # two others: one could dominate
    assert drift.control_drift(shifts, "x") == (0.0, 3)
    assert drift.control_drift({**shifts, "e": 0.0}, "b") == (0.0, 3)  # itself left out


def test_versions_one_after_the_other_have_no_overlap() -> None:
    old_ns, new_ns = list(range(100)), list(range(100, 200))
    assert drift.overlap([1.0] * 100, old_ns, [1.0] * 100, new_ns, 30) is None
    canary = drift.overlap([1.0] * 100, old_ns, [2.0] * 100, list(range(50, 150)), 30)
    assert canary is not None and len(canary.old) == len(canary.new) == 50


def test_a_service_of_two_routes_still_gets_an_early_call() -> None:
    """Too few routes for a control: the sequential test calls a large regression early
    (before/after), as without the control."""
    rng = random.Random(5)
    p = make(version_window=200)
    i, called_at = 0, None
    for version, factor in (("1.0", 1.0), ("2.0", 1.5)):
        for n in range(200):
            batch = []
            for route, median_ms in (("GET /a", 20.0), ("GET /b", 30.0)):
                slower = factor if route == "GET /a" else 1.0
                batch.append(
                    request(i, route, version, median_ms * slower * rng.lognormvariate(0, 0.2))
                )
                i += 1
            p.consume_spans(SpanBatch(batch))
            if p.tick(i * NS) and called_at is None and version == "2.0":
                called_at = n + 1
    assert called_at is not None and called_at <= 50
    outcomes = {
        c["operation"]: (c["outcome"], c["basis"])
        for c in p.service.analysis()["version_comparisons"]
    }
    assert outcomes["GET /a"] == ("regression", "before_after")


def test_the_control_clears_verdicts_but_never_makes_one() -> None:
    """A release makes two of five routes twice as fast and leaves three alone, on an even
    load: the median of an unchanged route's four others is ~ −29 %, so judged relative to it
    alone the unchanged routes would be ~40 % slower. The plain comparison says they did not
    move, and the control may only clear a verdict: two improvements, no regression."""
    rng = random.Random(11)
    routes = {**ROUTES, "GET /orders": 60.0}
    faster = {"GET /orders", "GET /cart"}
    p = make(version_window=120)
    batches, i = [], 0
    for version in ("1.0", "2.0"):
        for _ in range(150):
            batch = []
            for route, median_ms in routes.items():
                code = 0.5 if version == "2.0" and route in faster else 1.0
                batch.append(
                    request(i, route, version, median_ms * code * rng.lognormvariate(0, 0.3))
                )
                i += 1
            batches.append(batch)
    found = judge_all(p, batches)
    assert sorted(found) == sorted(f"{Kind.IMPROVEMENT_DETECTED.value} {r}" for r in faster)
    comparisons = {c["operation"]: c for c in p.service.analysis()["version_comparisons"]}
    for route in routes.keys() - faster:
        c = comparisons[route]
        assert c["basis"] == "control" and c["environment_drift"] < -0.15, c
        assert c["outcome"] in ("pass", "inconclusive"), c
        assert c["outcome"] == c["unadjusted_outcome"], c
        assert "the control alone does not decide a change" in c["verdict"]["reason"]
