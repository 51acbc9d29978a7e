"""Cost from unit prices: hourly, over a forecast path, right-sizing and schedule savings."""

from __future__ import annotations

import pytest

from otel_perf.processors.capacity.cost import (
    GIB,
    Prices,
    hourly,
    over_steps,
    per_replica_hourly,
    rightsizing_saving,
    schedule_saving,
    unit_price,
)

PRICES = Prices(vcpu_hour=0.04, gib_hour=0.005, replica_hour=0.01)


def test_unit_prices_per_kind() -> None:
    assert unit_price("cpu", PRICES) == 0.04
    assert unit_price("memory", PRICES) * GIB == pytest.approx(0.005)
    assert unit_price("requests", PRICES) == 0.0


def test_hourly_cost_of_cores_and_bytes_on_replicas() -> None:
    assert hourly("cpu", 1.5, PRICES, replicas=2) == pytest.approx(0.12)
    assert hourly("memory", 4 * GIB, PRICES) == pytest.approx(0.02)


def test_cost_over_a_forecast_path_sums_each_step() -> None:
    path = [1.0] * 12 + [2.0] * 12  # a day of hourly steps: 12 core-hours at 1, 12 at 2
    assert over_steps("cpu", path, 3600.0, PRICES) == pytest.approx(36 * 0.04)
    assert over_steps("cpu", [1.0] * 12, 300.0, PRICES) == pytest.approx(0.04)  # one hour
    assert over_steps("cpu", [-1.0, float("nan"), 1.0], 3600.0, PRICES) == pytest.approx(0.04)


def test_rightsizing_saving_is_the_excess_over_the_window() -> None:
    saving = rightsizing_saving("cpu", 2.0, 0.5, 30 * 86400.0, PRICES, replicas=3)
    assert saving == pytest.approx(1.5 * 3 * 0.04 * 720)
    assert rightsizing_saving("cpu", 0.5, 2.0, 86400.0, PRICES) == 0.0


def test_schedule_saving_against_constant_replicas() -> None:
    each = per_replica_hourly(0.5, 512 * 2**20, PRICES)
    assert each == pytest.approx(0.5 * 0.04 + 0.5 * 0.005 + 0.01)
    schedule = [2] * 8 + [4] * 16  # nights at 2, days at 4, against 4 all day
    assert schedule_saving(4, schedule, each, 7 * 86400.0) == pytest.approx(16 * each * 7)
    assert schedule_saving(2, [3] * 24, each, 86400.0) == pytest.approx(-24 * each)
    assert schedule_saving(4, [], each, 86400.0) == 0.0
