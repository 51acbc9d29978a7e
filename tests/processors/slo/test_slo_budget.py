"""Error-budget arithmetic with hand-computed numbers."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_perf.processors.slo.budget import (
    burn_rate,
    error_budget_consumed,
    error_budget_ratio,
    error_budget_remaining,
    error_budget_remaining_events,
    error_budget_total,
    error_ratio,
    explain,
    sli,
)
from otel_perf.processors.slo.objective import BudgetingMethod


def test_the_example_from_the_api() -> None:
    # 12 bad of 48 000 against 99.9 %: the budget is 48 bad events, a quarter of it spent
    assert sli(47_988, 48_000) == pytest.approx(0.99975)
    assert error_ratio(47_988, 48_000) == pytest.approx(0.00025)
    assert error_budget_total(48_000, 0.999) == pytest.approx(48.0)
    assert error_budget_consumed(47_988, 48_000, 0.999) == pytest.approx(0.25)
    assert error_budget_remaining(47_988, 48_000, 0.999) == pytest.approx(0.75)
    assert error_budget_remaining_events(47_988, 48_000, 0.999) == pytest.approx(36.0)
    assert burn_rate(47_988, 48_000, 0.999) == pytest.approx(0.25)


def test_an_overspent_budget_goes_negative() -> None:
    # 100 bad of 48 000: 100 / 48 = 208.33 % spent, 52 events over
    assert error_budget_consumed(47_900, 48_000, 0.999) == pytest.approx(100 / 48)
    assert error_budget_remaining(47_900, 48_000, 0.999) == pytest.approx(1 - 100 / 48)
    assert error_budget_remaining_events(47_900, 48_000, 0.999) == pytest.approx(-52.0)


def test_no_events_means_nothing_failed() -> None:
    assert sli(0, 0) == 1.0
    assert error_ratio(0, 0) == 0.0
    assert error_budget_consumed(0, 0, 0.999) == 0.0
    assert error_budget_remaining(0, 0, 0.999) == 1.0
    assert burn_rate(0, 0, 0.999) == 0.0


def test_burn_rates_land_exactly_on_decimal_thresholds() -> None:
    assert error_budget_ratio(0.999) == 0.001  # 1 − 0.999 is 0.0010000000000000009 in binary
    assert burn_rate(47_952, 48_000, 0.999) == 1.0  # 48 bad: exactly the budget
    assert burn_rate(0, 1000, 0.999) == 1000.0  # a full outage
    assert burn_rate(9_856, 10_000, 0.99) == pytest.approx(1.44)


def test_explain_spells_out_every_formula() -> None:
    report = explain(47_988, 48_000, 0.999)
    formulas = report["formulas"]
    assert isinstance(formulas, dict)
    assert formulas == {
        "sli": "SLI = good / total = 47 988 / 48 000 = 99.975 %",
        "error_budget_total": "error budget = (1 − target) × total = 0.001 × 48 000 = 48 events",
        "error_budget_consumed": (
            "error budget consumed = bad / ((1 − target) × total) = 12 / (0.001 × 48 000) = 25 %"
        ),
        "error_budget_remaining": (
            "error budget remaining = 1 − bad / ((1 − target) × total)"
            " = 1 − 12 / (0.001 × 48 000) = 75 %"
        ),
        "error_budget_remaining_events": (
            "error budget remaining events = (1 − target) × total − bad = 48 − 12 = 36 events"
        ),
        "burn_rate": "burn rate = (bad / total) / (1 − target) = (12 / 48 000) / 0.001 = 0.25",
    }
    assert {k: report[k] for k in ("good", "bad", "total", "unit", "exhausted", "status")} == {
        "good": 47_988,
        "bad": 12,
        "total": 48_000,
        "unit": "events",
        "exhausted": False,
        "status": "within budget",
    }
    assert report["error_budget_remaining"] == pytest.approx(0.75)
    json.dumps(report)  # ready for the API


def test_explain_for_timeslices_counts_minutes() -> None:
    # 30 days = 43 200 minutes with data, 200 bad, against 99.5 %: budget 216 minutes
    report = explain(43_000, 43_200, 0.995, BudgetingMethod.TIMESLICES)
    formulas = report["formulas"]
    assert isinstance(formulas, dict)
    assert formulas["sli"] == "SLI = good minutes / minutes with data = 43 000 / 43 200 = 99.537 %"
    assert formulas["error_budget_total"] == (
        "error budget = (1 − target) × total = 0.005 × 43 200 = 216 minutes"
    )
    assert formulas["error_budget_remaining"] == (
        "error budget remaining = 1 − bad / ((1 − target) × total)"
        " = 1 − 200 / (0.005 × 43 200) = 7.40741 %"
    )
    assert report["error_budget_remaining"] == pytest.approx(16 / 216)


def test_explain_says_when_the_budget_is_exhausted() -> None:
    report = explain(47_900, 48_000, 0.999)
    formulas = report["formulas"]
    assert isinstance(formulas, dict)
    assert report["exhausted"] is True
    assert report["status"] == "error budget exhausted: more bad events than the target allows"
    assert formulas["error_budget_remaining"].endswith("= 1 − 100 / (0.001 × 48 000) = -108.333 %")
    assert formulas["error_budget_remaining_events"].endswith("= 48 − 100 = -52 events")


def test_explain_without_events() -> None:
    report = explain(0, 0, 0.999)
    formulas = report["formulas"]
    assert isinstance(formulas, dict)
    assert all(text.endswith("(no events)") for text in formulas.values())
    assert report["sli"] == 1.0 and report["exhausted"] is False
    assert str(report["status"]).startswith("no data")


@settings(max_examples=300, deadline=None)
@given(
    total=st.integers(1, 10**9),
    bad_fraction=st.floats(0, 1),
    target=st.sampled_from([0.9, 0.99, 0.995, 0.999, 0.9995, 0.99999]),
)
def test_the_quantities_agree(total: int, bad_fraction: float, target: float) -> None:
    good = total - int(total * bad_fraction)
    bad = total - good
    budget = error_budget_total(total, target)
    consumed = error_budget_consumed(good, total, target)
    assert consumed * budget == pytest.approx(bad)
    assert error_budget_remaining(good, total, target) == pytest.approx(1 - consumed)
    assert error_budget_remaining_events(good, total, target) == pytest.approx(budget - bad)
    # over the whole SLO window the burn rate is the fraction of the budget spent
    assert burn_rate(good, total, target) == pytest.approx(consumed)
