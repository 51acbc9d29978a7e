"""Memory of span-metrics series: traced bytes per RED series at cardinality.

``python -m benchmarks.spanmetrics_memory [--series N] [--values N] [--seed N]``

Two figures: the open interval (RED objects, what settles while an interval is open) and
the same interval once closed (a :class:`~otel_perf.rollups.REDBlock` of columns: what
the recent intervals and the rollups hold), the open one freed.

``--series`` series (services of 20 operations each: 1,000 services at the default 20,000)
each get ``--values`` seeded log-normal durations (median ~24 ms, sigma 1) in one base
interval of the span-metrics processor's :class:`Windows`, which are then settled into
their histograms (what a closed interval holds). ``tracemalloc`` counts the bytes still
allocated afterwards, split by where they were allocated: the bucket count arrays
(``otel_perf/histogram/buckets.py``), the rest of the histogram
(``otel_perf/histogram/``), the ``RED`` records (``otel_perf/series.py`` and its
generated dataclass code) and the window's maps (``processors/spanmetrics/``). Prints
the figures, then one JSON object as the last line with the same figures.
"""

from __future__ import annotations

import argparse
import gc
import json
import tracemalloc
from collections import Counter
from pathlib import PurePath

import numpy as np

from benchmarks._args import bounded
from otel_perf.processors.spanmetrics.windows import Windows
from otel_perf.rollups import REDBlock
from otel_perf.series import SeriesKey

OPERATIONS_PER_SERVICE = 20
MEDIAN_DURATION_NS = 24_000_000
SIGMA = 1.0

#: where an allocation was made -> the part it is counted in (first match wins)
PARTS = (
    ("otel_perf/histogram/buckets.py", "bucket_counts"),
    ("otel_perf/histogram/", "histogram"),
    ("otel_perf/series.py", "red"),
    ("<string>", "red"),  # the RED dataclass's generated __init__
    ("spanmetrics/", "window_maps"),
)


def part_of(filename: str) -> str:
    """The part an allocation made in ``filename`` is counted in."""
    path = PurePath(filename).as_posix()
    for marker, part in PARTS:
        if marker in path:
            return part
    return "other"


def workload(series: int, values: int, seed: int) -> list[tuple[SeriesKey, list[int]]]:
    """The series keys and each one's durations (ns), built before anything is traced."""
    rng = np.random.default_rng(seed)
    durations = rng.lognormal(np.log(MEDIAN_DURATION_NS), SIGMA, size=(series, values))
    return [
        (
            SeriesKey(f"svc-{i // OPERATIONS_PER_SERVICE}", f"op-{i % OPERATIONS_PER_SERVICE}", 2),
            [int(d) for d in row],
        )
        for i, row in enumerate(durations)
    ]


def measure(series: int, values: int, seed: int) -> dict[str, object]:
    """Traced bytes left allocated by one settled interval of ``series`` series."""
    items = workload(series, values, seed)
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.take_snapshot()
        windows = Windows(interval_s=10.0, grace_s=5.0)
        for key, durations_ns in items:
            windows.add(0, key, durations_ns, 0)
        windows.settle()
        gc.collect()
        snapshot = tracemalloc.take_snapshot()
        held = sum(len(reds) for reds in windows.open.values())
        closed = REDBlock.of(windows.open.pop(0))
        gc.collect()
        closed_snapshot = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    by_part: Counter[str] = Counter()
    for diff in snapshot.compare_to(baseline, "filename"):
        by_part[part_of(diff.traceback[0].filename)] += diff.size_diff
    if held != series or len(closed) != series:
        raise RuntimeError(f"expected {series} series in the window, found {held}")
    total = sum(by_part.values())
    closed_total = sum(d.size_diff for d in closed_snapshot.compare_to(baseline, "filename"))
    return {
        "series": series,
        "values_per_series": values,
        "traced_mib": round(total / 2**20, 2),
        "bytes_per_series": round(total / series),
        "bytes_per_series_by_part": {
            part: round(size / series) for part, size in sorted(by_part.items())
        },
        "closed_mib": round(closed_total / 2**20, 2),
        "closed_bytes_per_series": round(closed_total / series),
    }


def report(figures: dict[str, object]) -> None:
    print(
        f"{figures['series']:,} series x {figures['values_per_series']} durations in one "
        f"settled interval: {figures['traced_mib']} MiB traced, "
        f"{figures['bytes_per_series']} B a series"
    )
    parts = figures["bytes_per_series_by_part"]
    assert isinstance(parts, dict)
    for part, size in sorted(parts.items(), key=lambda item: -item[1]):
        print(f"  {part:<14} {size:>6} B a series")
    print(
        f"closed (a block of columns, as the recent intervals and rollups hold it): "
        f"{figures['closed_mib']} MiB traced, {figures['closed_bytes_per_series']} B a series"
    )
    print(json.dumps(figures))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; every count is bounded so a run stays short."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.spanmetrics_memory", description=__doc__
    )
    parser.add_argument("--series", type=bounded(1, 200_000), default=20_000)
    parser.add_argument("--values", type=bounded(1, 10_000), default=20, help="per series")
    parser.add_argument("--seed", type=bounded(0, 2**31), default=7)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the measurement; 0 when it completed."""
    args = parse_args(argv)
    report(measure(args.series, args.values, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
