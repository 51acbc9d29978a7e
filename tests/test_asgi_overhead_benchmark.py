"""benchmarks.asgi_overhead's parts: the CPU clock it reads for the servers, the in-process
measurement, the summary line and the bounds of its command line."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # benchmarks/ is a top-level folder, not installed

from benchmarks import asgi_overhead  # noqa: E402
from benchmarks._asgi_overhead_app import designs, in_process  # noqa: E402


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        sum(range(1000))


def test_cpu_seconds_follows_the_process_cpu_clock() -> None:
    before_ours, before = time.process_time(), asgi_overhead.cpu_seconds(os.getpid())
    _burn(0.2)
    spent = asgi_overhead.cpu_seconds(os.getpid()) - before
    ours = time.process_time() - before_ours
    # the scheduler's ns counters: no 4–10 ms tick sampling, so a 0.2 s span is close
    assert abs(spent - ours) < 0.01, (spent, ours)


def test_in_process_measures_both_apps() -> None:
    result = in_process(blocks=2, pairs=100)
    assert set(result) == {
        "in_process_ratio",
        "in_process_us_plain",
        "in_process_us_monitored",
        "in_process_added_us",
        "in_process_added_us_q1",
        "in_process_added_us_q3",
        "in_process_added_us_ci95",
        "in_process_added_us_blocks",
        "in_process_blocks",
        "in_process_pairs",
    }
    assert 10 < result["in_process_us_plain"] < 100_000
    assert 10 < result["in_process_us_monitored"] < 100_000
    assert result["in_process_ratio"] == pytest.approx(
        result["in_process_us_monitored"] / result["in_process_us_plain"], rel=0.5
    )
    assert (result["in_process_blocks"], result["in_process_pairs"]) == (2, 100)
    low, high = result["in_process_added_us_ci95"]
    assert low <= result["in_process_added_us"] <= high
    assert len(result["in_process_added_us_blocks"]) == 2


def test_designs_compares_our_middleware_with_the_hooks() -> None:
    result = designs(blocks=2, pairs=100)
    assert 10 < result["designs_us_layered"] < 100_000
    assert 10 < result["designs_us_hooks"] < 100_000
    low, high = result["designs_saved_us_ci95"]
    assert low <= result["designs_saved_us"] <= high
    assert len(result["designs_saved_us_blocks"]) == 2
    assert (result["designs_blocks"], result["designs_pairs"]) == (2, 100)


def test_summary_has_the_ratio_first_and_the_round_spread() -> None:
    args = asgi_overhead.parse_args(["--rounds", "4", "--requests", "50", "--sessions", "1"])
    plain = asgi_overhead.Figures("plain", [0.1, 0.1, 0.1, 0.1], [0.2] * 4, 200)
    monitored = asgi_overhead.Figures("monitored", [0.11, 0.1, 0.12, 0.1], [0.2] * 4, 200)
    extra = {"in_process_added_us": 12.5}
    result = asgi_overhead.summary([plain, monitored], args, extra)
    assert next(iter(result)) == "overhead_ratio"
    assert result["overhead_ratio"] == pytest.approx(1.075)
    assert result["round_ratio_median"] == pytest.approx(1.05)
    assert result["round_ratio_q1"] <= result["round_ratio_median"] <= result["round_ratio_q3"]
    low, high = result["round_ratio_ci95"]  # resampled rounds: 1.0 (round 2) to 1.2 (round 3)
    assert 1.0 <= low < result["overhead_ratio"] < high <= 1.2
    assert result["in_process_added_us"] == 12.5
    assert result["cpu_us_per_request_plain"] == pytest.approx(2000.0)
    assert "control_round_ratio_median" not in result and "session_ratios" not in result


def test_summary_puts_the_in_process_added_us_against_the_servers_plain_cpu() -> None:
    args = asgi_overhead.parse_args(["--rounds", "4", "--requests", "50", "--sessions", "1"])
    plain = asgi_overhead.Figures("plain", [0.1] * 4, [0.2] * 4, 200)  # 2000 µs a request
    monitored = asgi_overhead.Figures("monitored", [0.1] * 4, [0.2] * 4, 200)
    extra = {"in_process_added_us": 10.0, "in_process_added_us_ci95": [6.0, 14.0]}
    result = asgi_overhead.summary([plain, monitored], args, extra)
    assert result["in_process_overhead_ratio"] == pytest.approx(1.005)
    assert result["in_process_overhead_ratio_ci95"] == pytest.approx([1.003, 1.007])
    assert "in_process_overhead_ratio" not in asgi_overhead.summary([plain, monitored], args, {})


def test_summary_has_the_controls_round_spread_and_the_session_ratios() -> None:
    args = asgi_overhead.parse_args(["--rounds", "4", "--requests", "50", "--sessions", "2"])
    plain = asgi_overhead.Figures("plain", [0.1, 0.1, 0.1, 0.1], [0.2] * 4, 200)
    control = asgi_overhead.Figures("control", [0.09, 0.1, 0.1, 0.12], [0.2] * 4, 200)
    sessions = {"control": [0.95, 1.1]}
    result = asgi_overhead.summary([plain, control], args, {}, sessions)
    assert result["control_ratio"] == pytest.approx(1.025)
    assert result["control_round_ratio_median"] == pytest.approx(1.0)
    assert result["control_round_ratio_q1"] < 1.0 < result["control_round_ratio_q3"]
    assert result["session_ratios"] == sessions
    assert (result["sessions"], result["rounds"]) == (2, 4)


def test_every_variant_is_started_first_once_over_the_default_sessions() -> None:
    variants = ["plain", "monitored", "control"]
    orders = [asgi_overhead.start_order(variants, k) for k in range(len(variants))]
    assert [order[0] for order in orders] == variants
    assert all(sorted(order) == sorted(variants) for order in orders)
    args = asgi_overhead.parse_args(["--variants", "plain,monitored,control", "--rounds", "10"])
    assert (args.sessions, args.rounds_per_session, args.rounds) == (3, 3, 9)


@pytest.mark.parametrize(
    "argv",
    [
        ["--rounds", "1"],
        ["--rounds", "1001"],
        ["--requests", "49"],
        ["--in-process-blocks", "101"],
        ["--in-process-pairs", "99"],
        ["--variants", "monitored"],
        ["--sessions", "0"],
        ["--sessions", "4", "--rounds", "7"],
    ],
)
def test_out_of_bounds_arguments_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        asgi_overhead.parse_args(argv)


def test_the_defaults_alternate_many_short_rounds() -> None:
    args = asgi_overhead.parse_args([])
    assert (args.rounds, args.requests, args.in_process_blocks) == (60, 100, 8)
    assert args.variants == ["plain", "monitored", "cached", "control"]
    assert (args.sessions, args.rounds_per_session) == (4, 15)
