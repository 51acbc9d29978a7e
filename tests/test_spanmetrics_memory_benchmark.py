"""benchmarks.spanmetrics_memory: the traced bytes per series and their split by part."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # benchmarks/ is a top-level folder, not installed

from benchmarks import spanmetrics_memory  # noqa: E402


def test_parts_follow_where_the_bytes_were_allocated() -> None:
    part_of = spanmetrics_memory.part_of
    assert part_of("/x/otel_perf/histogram/buckets.py") == "bucket_counts"
    assert part_of("/x/otel_perf/histogram/exponential.py") == "histogram"
    assert part_of("/x/otel_perf/series.py") == "red"
    assert part_of("<string>") == "red"
    assert part_of("/x/processors/spanmetrics/windows.py") == "window_maps"
    assert part_of("/usr/lib/python3.11/json/decoder.py") == "other"


def test_every_series_is_counted_and_the_parts_add_up() -> None:
    figures = spanmetrics_memory.measure(series=400, values=5, seed=3)
    parts = figures["bytes_per_series_by_part"]
    assert isinstance(parts, dict)
    assert (figures["series"], figures["values_per_series"]) == (400, 5)
    assert parts["bucket_counts"] > 0 and parts["red"] > 0 and parts["window_maps"] > 0
    # each part is rounded on its own: the sum is within one byte a part of the total
    assert abs(sum(parts.values()) - figures["bytes_per_series"]) <= len(parts)


def test_more_values_spread_over_more_buckets() -> None:
    few = spanmetrics_memory.measure(series=300, values=1, seed=5)
    many = spanmetrics_memory.measure(series=300, values=200, seed=5)
    few_parts, many_parts = few["bytes_per_series_by_part"], many["bytes_per_series_by_part"]
    assert isinstance(few_parts, dict) and isinstance(many_parts, dict)
    # one value is a one-bucket array; 200 log-normal values span hundreds of buckets
    assert many_parts["bucket_counts"] > few_parts["bucket_counts"] + 100
    assert many_parts["red"] == few_parts["red"]  # the records do not grow with the values


def test_the_last_line_is_the_figures_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert spanmetrics_memory.main(["--series", "50", "--values", "2"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith('{"series": 50, "values_per_series": 2,')


def test_counts_are_bounded() -> None:
    with pytest.raises(SystemExit):
        spanmetrics_memory.parse_args(["--series", "300000"])


def test_a_closed_interval_holds_less_than_half_the_open_one() -> None:
    figures = spanmetrics_memory.measure(series=2_000, values=20, seed=7)
    closed, held = figures["closed_bytes_per_series"], figures["bytes_per_series"]
    assert isinstance(closed, int) and isinstance(held, int)
    assert 0 < closed < held / 2
