"""A finding's cost to users is a rate smoothed over windows (so two problems of similar
cost do not swap places with each window's luck) and the recommendations rank by its current
value; a warning that is big for most users is critical, with hysteresis."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_bottlenecks_precision import MIN, make, warnings, window

from otel_perf.component import Context
from otel_perf.findings import Finding, Severity
from otel_perf.processors.bottlenecks.config import BottlenecksConfig
from otel_perf.processors.bottlenecks.impact import ImpactRates
from otel_perf.processors.bottlenecks.processor import BottlenecksProcessor
from otel_perf.recommend.ranking import Inputs, recommend
from otel_perf.store import Store


def test_the_rate_is_a_time_weighted_mean_of_the_windows_seen() -> None:
    rates = ImpactRates(half_life_s=10, max_keys=10)
    rates.update(10, {"a": (600.0, 6)})
    rates.update(10, {"a": (1200.0, 6)})  # the first window now weighs half
    rate = rates.rate("a")
    assert rate is not None
    assert rate.ms_per_min == pytest.approx((0.5 * 600 + 1200) / (0.5 * 10 + 10) * 60)
    assert rate.requests_per_min == pytest.approx((0.5 * 6 + 6) / 15 * 60)
    assert rate.ms_per_request == pytest.approx(1500 / 9)
    rates.update(10, {})  # absent for a window: nothing lost to it then
    absent = rates.rate("a")
    assert absent is not None and absent.ms_per_min < rate.ms_per_min


def test_keys_are_bounded_and_forgotten_when_unseen() -> None:
    rates = ImpactRates(half_life_s=10, max_keys=2, forget_half_lives=3)
    for key in "abc":
        rates.update(10, {key: (1.0, 1)})
    assert len(rates) == 2 and rates.rate("a") is None  # least recently seen went first
    for _ in range(3):
        rates.update(10, {"c": (1.0, 1)})
    assert rates.rate("b") is None and rates.rate("c") is not None


def test_the_smoothed_order_holds_where_single_windows_swap() -> None:
    """Two routes' problems costing 100 ms a request, one with 1.4x the other's requests
    (Poisson counts in 5-s windows): window by window they swap, the rates do not."""
    rng = np.random.default_rng(15)
    rates = ImpactRates(half_life_s=300, max_keys=10)
    swapped, smoothed_order = 0, []
    for _ in range(60):
        hot, warm = rng.poisson(7.0), rng.poisson(5.0)
        swapped += bool(warm >= hot)
        rates.update(5, {"hot": (100.0 * hot, hot), "warm": (100.0 * warm, warm)})
        hot_rate, warm_rate = rates.rate("hot"), rates.rate("warm")
        assert hot_rate is not None and warm_rate is not None
        smoothed_order.append(hot_rate.ms_per_min > warm_rate.ms_per_min)
    assert swapped >= 10  # the last window alone would often put them the wrong way round
    assert all(smoothed_order[5:])


def test_findings_carry_their_smoothed_cost_and_the_snapshot_the_current_one() -> None:
    processor = make()
    window(processor, 0, [("/orders", 20, 40)])  # the baseline: a 20-ms query
    first = window(processor, 1, [("/orders", 200, 40)])  # 10x slower
    (query,) = [f for f in warnings(first) if f.kind == "slow_query"]
    assert query.attributes["impact_ms_per_min"] == pytest.approx(200 * 40, rel=0.05)
    assert query.attributes["impact_requests_per_min"] == pytest.approx(40)
    window(processor, 2, [("/orders", 200, 20)])  # half the traffic in the next minute
    current = processor.snapshot()["impact"][query.key]
    assert 20 < current["impact_requests_per_min"] < 40  # between the two windows
    assert current["impact_ms_per_request"] == pytest.approx(200, rel=0.05)


def test_a_warning_saving_500_ms_on_a_hot_route_is_critical_with_hysteresis() -> None:
    processor = make()
    window(processor, 0, [("/orders", 60, 40)])
    severities = []
    for index, query_ms in enumerate((620, 430, 300), start=1):  # 560, 370, 240 ms excess
        found = window(processor, index, [("/orders", query_ms, 40)])
        (query,) = [f for f in processor.announcer.said() if f[0].kind == "slow_query"]
        severities.append(query[0].severity)
        assert all(f.severity != Severity.CRITICAL for f in found if "orders" not in f.subject)
    # opens critical past 500 ms, stays critical above 0.7 x 500, steps down below
    assert severities == [Severity.CRITICAL, Severity.CRITICAL, Severity.WARNING]
    fresh = make()  # 370 ms of excess never makes a critical one
    window(fresh, 0, [("/orders", 60, 40)])
    found = window(fresh, 1, [("/orders", 430, 40)])
    assert {f.severity for f in warnings(found)} == {Severity.WARNING}


def test_a_big_saving_on_a_route_few_users_take_is_not_critical() -> None:
    processor = make()
    mix = [("/orders", 60, 20), ("/other", 5, 180)]  # /orders: 10 % of traffic
    window(processor, 0, mix)
    found = window(processor, 1, [("/orders", 900, 20), ("/other", 5, 180)])
    raised = {f.kind: f.severity for f in warnings(found)}
    assert raised.get("slow_query") == Severity.WARNING, raised
    assert Severity.CRITICAL not in raised.values()


def test_the_list_ranks_by_the_current_smoothed_cost_of_an_open_finding() -> None:
    processor = make()
    window(processor, 0, [("/orders", 20, 40)])
    said: dict[str, Finding] = {}
    for index, requests in enumerate((40, 40, 10, 10), start=1):  # traffic drops to a quarter
        for finding in window(processor, index, [("/orders", 200, requests)]):
            said[finding.key] = finding  # what the store holds: the last announcement
    (query,) = [f for f in said.values() if f.kind == "slow_query"]
    announced = query.attributes["impact_ms_per_min"]
    current = processor.snapshot()["impact"][query.key]
    assert current["impact_ms_per_min"] < announced  # the drop was not announced again
    snapshots = {"bottlenecks": {processor.id: processor.snapshot()}}
    items = recommend(Inputs(snapshots, list(said.values())))
    (item,) = [i for i in items if i["finding"]["key"] == query.key]
    assert item["impact"]["value"] == pytest.approx(current["impact_ms_per_min"])
    assert item["evidence"]["figures"]["impact_requests_per_min"] == pytest.approx(
        current["impact_requests_per_min"]
    )
    assert "a mean over evaluation windows weighted by age" in item["ranking"]["notes"][0]
    (stored_only,) = [
        i for i in recommend(Inputs({}, list(said.values()))) if i["finding"]["key"] == query.key
    ]
    # without the processor's view (the store read alone): the figures it was announced with
    assert stored_only["impact"]["value"] == pytest.approx(announced)


def test_the_smoothed_costs_survive_a_restart(tmp_path: Path) -> None:
    def on(store: Store) -> BottlenecksProcessor:
        processor = BottlenecksProcessor(
            Context("bottlenecks", store), BottlenecksConfig(trace_quiet_time=1, min_traces=5)
        )
        processor.start()
        return processor

    store = Store(tmp_path / "s.db")
    first = on(store)
    window(first, 0, [("/orders", 20, 40)])
    window(first, 1, [("/orders", 900, 40)])
    before = first.snapshot()["impact"]
    assert before
    first.flush(2 * MIN * 1_000_000)
    store.close()

    store = Store(tmp_path / "s.db")
    again = on(store)  # the announcer and the means come back together
    assert again.snapshot()["impact"] == before
    store.close()
