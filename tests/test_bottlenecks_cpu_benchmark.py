"""``benchmarks.bottlenecks_cpu`` times the analysis of every trace it sends, not only
their assembly: each round analyses all of them, and its figures add up."""

from __future__ import annotations

from benchmarks._common import SPANS_PER_REQUEST, TRACE_SIZE
from benchmarks.bottlenecks_cpu import run


def test_every_trace_is_analysed_in_a_timed_tick() -> None:
    result = run(batches=3, rounds=2, seed=4)
    assert result["spans"] == 3 * SPANS_PER_REQUEST
    assert result["traces_analysed"] == 3 * SPANS_PER_REQUEST // TRACE_SIZE
    assert result["tick_us_per_span"] > 0 and result["consume_spans_us_per_span"] > 0
    total = result["consume_spans_us_per_span"] + result["tick_us_per_span"]
    assert abs(result["bottlenecks_us_per_span"] - total) < 0.01
    assert result["python_tree_us_per_span"] > 0 and result["speedup_vs_python_tree"] > 0
