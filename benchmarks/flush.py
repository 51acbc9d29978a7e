"""What each processor's ``flush`` costs on the pipeline thread.

``python -m benchmarks.flush [--batches 300] [--cardinality-requests 1000] [--calls 5]``

Two states, each built in process on an event-time clock with the embedded default
config and a store on disk (as ``otel-perf run`` holds them):

* ``in_process``: ``--batches`` requests of the ingest benchmark's pool (512 spans each,
  fresh ids), ticked every 20 batches, as ``python -m benchmarks.ingest --in-process``
  feeds them;
* ``cardinality``: ``--cardinality-requests`` requests of the cardinality traffic
  (1,000 services x 20 operations), as ``--memory-breakdown`` feeds them.

Then, per processor, the CPU time (``time.thread_time_ns``) of ``flush`` in three
situations: ``changed`` (its state marked changed before each call: what a flush costs
under traffic), ``unchanged`` (called again at once: what it costs when nothing
arrived since). For span metrics also ``v2``: the document this code wrote before
round 7 (a JSON object per series), written the same way, the calls alternating with
``changed``'s. Figures are the median µs over ``--calls`` calls, and the bytes of each
component's saved documents.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._args import bounded
from benchmarks._common import MAX_TRACE_NS, build_pool
from benchmarks._fresh_ids import FreshIds

S = 1_000_000_000
TICK_EVERY = 20


def in_process_state(pipeline: Any, batches: int, seed: int) -> int:
    """Feed ``batches`` ingest requests; the event time reached."""
    from otel_perf.decode import SPAN_ATTRIBUTE_KEYS, Decoder, Limits

    base_ns = (time.time_ns() // S - 3600) * S
    pool = [FreshIds(p) for p in build_pool(32, seed, start_ns=base_ns, spread_ns=S)]
    decoder = Decoder(Limits(span_attribute_keys=SPAN_ATTRIBUTE_KEYS | pipeline.span_attributes))
    step_ns = int(pipeline.config.service.tick_interval * S)
    start_ns = now_ns = base_ns + S + MAX_TRACE_NS
    for i in range(batches):
        body = pool[i % len(pool)].payload(1, i, now_ns - start_ns)
        pipeline.process(decoder.spans_from_bytes(body)[0])
        if i % TICK_EVERY == TICK_EVERY - 1:
            now_ns += step_ns
            pipeline.tick(now_ns)
    return now_ns


def cardinality_state(pipeline: Any, requests: int, seed: int) -> int:
    """Feed ``requests`` cardinality requests (``--memory-breakdown``'s traffic, 20,000
    spans per event second); the event time reached."""
    from benchmarks.ingest import (
        CARDINALITY_SERVICES,
        CARDINALITY_SPANS_PER_REQUEST,
        build_cardinality_request,
    )
    from otel_perf.decode import SPAN_ATTRIBUTE_KEYS, Decoder, Limits

    decoder = Decoder(Limits(span_attribute_keys=SPAN_ATTRIBUTE_KEYS | pipeline.span_attributes))
    rng = random.Random(seed)
    per_request_ns = CARDINALITY_SPANS_PER_REQUEST * S // 20_000
    tick_ns = int(pipeline.config.service.tick_interval * S)
    now = start = (time.time_ns() // (3600 * S) - 1) * 3600 * S
    next_tick = now + tick_ns
    for i in range(requests):
        now = start + (i + 1) * per_request_ns
        while next_tick <= now:
            pipeline.tick(next_tick)
            next_tick += tick_ns
        body = build_cardinality_request(rng, i % CARDINALITY_SERVICES, now)
        pipeline.process(decoder.spans_from_bytes(body.SerializeToString())[0])
    return now


def saved_bytes(path: Path) -> dict[str, int]:
    """The bytes of the saved state documents by component (span metrics' by document)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT component, name, LENGTH(body) FROM component_state").fetchall()
    finally:
        db.close()
    out: dict[str, int] = {}
    for component, name, size in rows:
        part = f"{component} {name}" if str(component).startswith("spanmetrics") else component
        out[part] = out.get(part, 0) + int(size)
    return out


def _median_us(samples: list[int]) -> float:
    return round(statistics.median(samples) / 1e3, 1)


def timed(call: Callable[[], object]) -> int:
    started = time.thread_time_ns()
    call()
    return time.thread_time_ns() - started


def flush_costs(pipeline: Any, now_ns: int, calls: int) -> dict[str, dict[str, float]]:
    """Per processor: median µs of ``flush`` changed / unchanged (and span metrics' v2)."""
    out: dict[str, dict[str, float]] = {}
    for pid, processor in pipeline.processors.items():
        changed, unchanged, legacy = [], [], []
        for i in range(calls):
            at = now_ns + (2 * i + 1) * 3600 * S  # past every throttle
            mark = getattr(processor, "mark_changed", None)
            if pid.startswith("spanmetrics"):
                legacy.append(timed(lambda p=processor, t=at: save_v2(p, t)))
            _mark_all(processor) if mark is None else mark()
            changed.append(timed(lambda p=processor, t=at: p.flush(t)))
            unchanged.append(timed(lambda p=processor, t=at + 3600 * S: p.flush(t)))
        out[pid] = {"changed_us": _median_us(changed), "unchanged_us": _median_us(unchanged)}
        if legacy:
            out[pid]["v2_us"] = _median_us(legacy)
    return out


def document_v2(processor: Any) -> dict[str, Any]:
    """Span metrics' state as versions before 3 wrote it."""
    from otel_perf.processors.spanmetrics.saved import legacy_document

    windows = processor.windows
    windows.settle()
    return legacy_document(windows.watermark_ns, windows.open, [r.open for r in processor.rollups])


def save_v2(processor: Any, now_ns: int) -> None:
    """What span metrics' ``flush`` did before version 3: build, then save, every time."""
    body = document_v2(processor)
    processor.context.store.save_state(processor.id, "v2 (benchmark)", body, now_ns)


def _mark_all(processor: Any) -> None:
    """Mark every persisted-state helper of ``processor`` changed (what traffic does)."""
    for value in vars(processor).values():
        dirty = getattr(value, "dirty", None)
        if isinstance(dirty, bool):
            value.dirty = True


def measure(kind: str, amount: int, calls: int, seed: int) -> dict[str, Any]:
    from otel_perf.config import load_config
    from otel_perf.pipeline import Pipeline
    from otel_perf.store import Store

    with tempfile.TemporaryDirectory(prefix="otel-perf-flush-") as tmp:
        path = Path(tmp) / "store.db"
        pipeline = Pipeline(load_config(None), Store(str(path), 1000))
        pipeline.start(worker=False)
        feed = in_process_state if kind == "in_process" else cardinality_state
        now_ns = feed(pipeline, amount, seed)
        costs = flush_costs(pipeline, now_ns, calls)
        sizes = saved_bytes(path)
        legacy = {
            pid: len(json.dumps(document_v2(p), separators=(",", ":")))
            for pid, p in pipeline.processors.items()
            if pid.startswith("spanmetrics")
        }
        pipeline.shutdown()
    return {"flush_us": costs, "state_bytes": sizes, "spanmetrics_v2_bytes": legacy}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=bounded(1, 5000), default=300)
    parser.add_argument("--cardinality-requests", type=bounded(0, 5000), default=1000)
    parser.add_argument("--calls", type=bounded(1, 50), default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    result = {"in_process": measure("in_process", args.batches, args.calls, args.seed)}
    if args.cardinality_requests:
        result["cardinality"] = measure(
            "cardinality", args.cardinality_requests, args.calls, args.seed
        )
    for name, figures in result.items():
        print(f"{name}: flush µs per call (median of {args.calls}), saved bytes")
        for pid, costs in figures["flush_us"].items():
            size = sum(v for k, v in figures["state_bytes"].items() if k.split()[0] == pid)
            row = "  ".join(f"{k} {v:>10.1f}" for k, v in costs.items())
            print(f"  {pid:<28} {row}  saved {size:>10,d} B")
        for pid, size in figures["spanmetrics_v2_bytes"].items():
            print(f"  {pid:<28} v2 document {size:>10,d} B")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
