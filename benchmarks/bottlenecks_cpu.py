"""CPU per span of the bottleneck analysis, with every trace actually analysed.

``python -m benchmarks.bottlenecks_cpu [--batches N] [--rounds N] [--seed N]``

``benchmarks.ingest --in-process`` ticks at the wall clock, so a trace held after the
first tick never goes quiet (it is analysed at shutdown, untimed), and its pool repeats
after 32 batches (repeated traces are late spans, dropped): its bottlenecks figure is
mostly assembly. Here ``N`` distinct recorded batches (the ingest pool: traces of 8 spans)
are decoded natively, then fed to a ``bottlenecks`` processor with the default config;
every 8 batches the event time moves past the quiet time, so each trace is analysed in a
timed ``tick``. CPU time (``time.thread_time_ns``) per span of ``consume_spans`` and of
``tick``, beside two baselines measured in the same rounds: the native decode of the same
batches (``ratio_vs_decode``: the analysis's cost in decodes) and the same processor with
the tree work in Python (``OTEL_PERF_NATIVE_TREE=0``, the specification the columnar path
is tested against; ``speedup_vs_python_tree``). Rounds alternate the two paths. The
figures, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from benchmarks._common import SPANS_PER_REQUEST, build_pool
from otel_perf.component import Context
from otel_perf.decode import SPAN_ATTRIBUTE_KEYS, Decoder, Limits
from otel_perf.model import SpanBatch
from otel_perf.processors.bottlenecks import fast
from otel_perf.processors.bottlenecks.config import BottlenecksConfig
from otel_perf.processors.bottlenecks.processor import BottlenecksProcessor
from otel_perf.store import Store

TICK_EVERY = 8  # batches between ticks
S = 1_000_000_000


def measure(batches: list[SpanBatch], start_ns: int) -> dict[str, float]:
    """µs per span of ``consume_spans`` and ``tick`` on a fresh processor."""
    config = BottlenecksConfig()
    store = Store(":memory:", 1000)
    processor = BottlenecksProcessor(Context("bottlenecks", store), config)
    processor.start()
    step_ns = int((config.trace_quiet_time + 1) * S)
    clock = time.thread_time_ns
    consume = tick = 0
    now = start_ns
    for i, batch in enumerate(batches):
        t0 = clock()
        processor.consume_spans(batch)
        t1 = clock()
        consume += t1 - t0
        if i % TICK_EVERY == TICK_EVERY - 1 or i == len(batches) - 1:
            now += step_ns
            processor.tick(now)
            tick += clock() - t1
    spans = len(batches) * SPANS_PER_REQUEST
    analysed = processor.traces_analysed
    store.close()
    return {"consume_us": consume / spans / 1e3, "tick_us": tick / spans / 1e3, "traces": analysed}


def run(batches: int, rounds: int, seed: int) -> dict[str, Any]:
    keys = SPAN_ATTRIBUTE_KEYS | BottlenecksProcessor.span_attributes
    decoder = Decoder(Limits(span_attribute_keys=keys))
    payloads = build_pool(batches, seed)
    decode_us, consume_us, tick_us, python_us = [], [], [], []
    traces = 0
    native = fast.NATIVE
    try:
        for _ in range(rounds):
            t0 = time.thread_time_ns()
            decoded = [decoder.spans_from_bytes(payload)[0] for payload in payloads]
            decode_us.append((time.thread_time_ns() - t0) / (batches * SPANS_PER_REQUEST) / 1e3)
            figures = measure(decoded, time.time_ns())
            consume_us.append(figures["consume_us"])
            tick_us.append(figures["tick_us"])
            traces = int(figures["traces"])
            fast.NATIVE = False  # the baseline: the same batches through the Python tree
            spec = measure(decoded, time.time_ns())
            python_us.append(spec["consume_us"] + spec["tick_us"])
            fast.NATIVE = native
    finally:
        fast.NATIVE = native
    decode, consume, tick, python = (
        statistics.median(x) for x in (decode_us, consume_us, tick_us, python_us)
    )
    return {
        "native_decode_us_per_span": round(decode, 3),
        "bottlenecks_us_per_span": round(consume + tick, 3),
        "consume_spans_us_per_span": round(consume, 3),
        "tick_us_per_span": round(tick, 3),
        "python_tree_us_per_span": round(python, 3),
        "ratio_vs_decode": round((consume + tick) / decode, 2),
        "speedup_vs_python_tree": round(python / (consume + tick), 2),
        "native_tree": native,
        "traces_analysed": traces,
        "spans": batches * SPANS_PER_REQUEST,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=48, help="distinct batches of 512 spans")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (the median is reported)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the request pool")
    args = parser.parse_args()
    result = run(args.batches, args.rounds, args.seed)
    print(f"bottlenecks on {result['spans']:,} spans, median of {args.rounds} rounds, CPU µs/span")
    for name in ("native_decode", "bottlenecks", "consume_spans", "tick", "python_tree"):
        print(f"  {name:<16} {result[name + '_us_per_span']:8.2f}")
    print(f"  traces analysed  {result['traces_analysed']:,} (per round)")
    print(f"  bottlenecks / native decode: {result['ratio_vs_decode']}")
    print(f"  Python tree / bottlenecks:   {result['speedup_vs_python_tree']}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
