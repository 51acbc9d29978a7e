"""``benchmarks.ingest --memory-breakdown``: the cardinality traffic in process, and each
component's retained bytes counted once, with the component that holds them."""

from __future__ import annotations

import sys

from benchmarks._memory_breakdown import measure, part_of, retained_by_attribute, retained_bytes
from benchmarks.ingest import CARDINALITY_OPERATIONS, parse_args
from otel_perf.config import load_config
from otel_perf.pipeline import Pipeline
from otel_perf.store import Store


def test_an_allocation_is_charged_to_the_innermost_component_of_its_traceback() -> None:
    frames = [
        "/x/otel_perf/histogram/buckets.py",
        "/x/processors/anomaly/series.py",
        "/x/processors/spanmetrics/processor.py",
    ]
    assert part_of(frames) == "processors/anomaly"
    assert part_of(frames[:1]) == "otel_perf/histogram"
    assert part_of(["/usr/lib/python3/json/decoder.py"]) == "other"


def test_a_component_retains_what_it_alone_reaches() -> None:
    pipeline = Pipeline(load_config(None), Store(":memory:", 10))
    spanmetrics = pipeline.processors["spanmetrics"]
    # the attribute exists before the first count, so setting it later resizes no __dict__
    spanmetrics.extra = None  # type: ignore[attr-defined]
    pipeline.processors["anomaly"].extra = None  # type: ignore[attr-defined]
    before = retained_bytes(pipeline)
    payload = [bytearray(1_000_000)]
    spanmetrics.extra = payload  # type: ignore[attr-defined]
    pipeline.processors["anomaly"].extra = payload  # type: ignore[attr-defined]
    after = retained_bytes(pipeline)
    grown = {cid: after[cid] - before[cid] for cid in after}
    size = sys.getsizeof(payload) + sys.getsizeof(payload[0])
    assert grown["spanmetrics"] == size  # counted once, with the first that reaches it
    assert grown["anomaly"] == 0


def test_the_breakdown_feeds_the_cardinality_traffic() -> None:
    figures = measure(requests=12, rate_spans_per_s=5000, seed=3)
    assert figures["held"]["spanmetrics.series"] == 12 * CARDINALITY_OPERATIONS
    retained = figures["retained_mib_by_component"]
    assert retained["spanmetrics"] > 0 and retained["anomaly"] > 0
    arenas = figures["pymalloc_mb"]
    assert arenas["arenas"] > 0 and 0 < arenas["objects_mb"] <= arenas["arena_mb"]
    assert figures["rss_mb"]["cardinality"] > 0
    saved = figures["saved_state_bytes_by_component"]  # what each left in the store
    assert saved["instrumentation"] > 0 and saved["anomaly"] > 0


def test_the_option_parses() -> None:
    args = parse_args(["--memory-breakdown", "--trace-frames", "3"])
    assert args.memory_breakdown and args.trace_frames == 3


def test_a_component_s_bytes_are_split_by_its_attributes() -> None:
    pipeline = Pipeline(load_config(None), Store(":memory:", 10))
    anomaly = pipeline.processors["anomaly"]
    anomaly.extra = None  # type: ignore[attr-defined]
    before, _ = retained_by_attribute(pipeline)
    payload = [bytearray(1_000_000)]
    anomaly.extra = payload  # type: ignore[attr-defined]
    after, by_attribute = retained_by_attribute(pipeline)
    size = sys.getsizeof(payload) + sys.getsizeof(payload[0])
    assert by_attribute["anomaly.extra"] == size
    assert after == retained_bytes(pipeline) and after["anomaly"] - before["anomaly"] == size
    assert sum(v for k, v in by_attribute.items() if k.startswith("anomaly.")) == after["anomaly"]
