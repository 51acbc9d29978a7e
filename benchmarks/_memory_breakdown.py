"""Where the pipeline's memory goes at 1,000 services x 20 operations.

``python -m benchmarks.ingest --memory-breakdown [--trace-frames N]``.

The cardinality phase's traffic (:func:`benchmarks.ingest.build_cardinality_request`:
one request per service, every operation in it) is decoded natively and fed straight
into ``Pipeline.process`` on an event-time clock, with the embedded default config and a
store on disk, as ``otel-perf run`` holds them. Requests arrive at ``rate`` spans per
event second; the pipeline ticks every tick interval and flushes every flush interval of
event time; after the last request the clock moves on by three times the longest of the
traces' quiet time, the span-metrics interval and its grace, so every trace is analysed
and every interval closed.

Resident memory (``psutil``) is read before the traffic and after it, with the
allocator's free pages handed back (:func:`otel_perf.runtime.memory.trim`) as the sidecar does.
Then :func:`retained_bytes` walks each component's objects (a deep ``getsizeof``): what
that walk does not reach (the interpreter, modules imported on first use, SQLite's page
cache, freed memory the allocator keeps) is the rest of the growth.

With ``frames`` (``--trace-frames``), a second kind of run: ``tracemalloc`` counts the
bytes still allocated, each charged to the innermost frame of its allocation's traceback
that lies in a component (``processors/<name>/``, ``exporters/<name>/``), else in an
``otel_perf`` module, else ``other``; and the largest allocation sites. Tracing costs
~8x the CPU and its own memory shows in the RSS figures of that run.
"""

from __future__ import annotations

import gc
import random
import sqlite3
import sys
import tempfile
import time
import tracemalloc
import types
from collections import Counter
from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import Any

import psutil

S = 1_000_000_000
TOP_SITES = 12
ATTRIBUTE_MIN_BYTES = 2**19
"""Attributes that retain less than this (0.5 MiB) are left out of the breakdown."""


def part_of(frames: Sequence[str]) -> str:
    """The part an allocation is charged to, from its traceback's file names (innermost first)."""
    fallback = "other"
    for filename in frames:
        parts = PurePath(filename).parts
        for anchor in ("processors", "exporters"):
            if anchor in parts:
                i = parts.index(anchor)
                if i + 2 < len(parts):
                    return f"{anchor}/{parts[i + 1]}"
        if fallback == "other" and "otel_perf" in parts:
            i = parts.index("otel_perf")
            fallback = "otel_perf/" + parts[i + 1].removesuffix(".py")
    return fallback


def measure(requests: int, rate_spans_per_s: int, seed: int, frames: int = 0) -> dict[str, Any]:
    """Feed ``requests`` cardinality requests; the traced bytes by part and the RSS figures.

    Without tracing (``frames`` 0), the bytes each component retains
    (:func:`retained_bytes`); with it, the RSS figures include tracemalloc's own memory.
    """
    from benchmarks._common import free_ports
    from benchmarks.ingest import (
        CARDINALITY_SERVICES,
        CARDINALITY_SPANS_PER_REQUEST,
        build_cardinality_request,
        pipeline_config,
    )
    from otel_perf.config import load_config
    from otel_perf.decode import SPAN_ATTRIBUTE_KEYS, Decoder, Limits
    from otel_perf.pipeline import Pipeline
    from otel_perf.runtime.memory import cap_arenas, trim
    from otel_perf.store import Store

    cap_arenas()
    process = psutil.Process()
    with tempfile.TemporaryDirectory(prefix="otel-perf-memory-") as tmp:
        config = load_config(text=pipeline_config(*free_ports(3)))
        pipeline = Pipeline(config, Store(str(Path(tmp) / "store.db"), 1000))
        pipeline.start(worker=False)
        decoder = Decoder(
            Limits(span_attribute_keys=SPAN_ATTRIBUTE_KEYS | pipeline.span_attributes)
        )
        gc.collect()
        trim()
        idle_rss = process.memory_info().rss
        if frames:
            tracemalloc.start(frames)
        baseline = tracemalloc.take_snapshot() if frames else None
        rng = random.Random(seed)
        per_request_ns = CARDINALITY_SPANS_PER_REQUEST * S // rate_spans_per_s
        tick_ns = int(config.service.tick_interval * S)
        flush_ns = int(config.service.store.flush_interval * S)
        # an hour ago, on the hour: every window and interval boundary falls at the same
        # point of the traffic in every run, so runs compare (the state held at the end
        # depends on where the last window boundary fell)
        now = start = (time.time_ns() // (3600 * S) - 1) * 3600 * S
        next_tick, next_flush = now + tick_ns, now + flush_ns

        def advance(to_ns: int) -> None:
            nonlocal next_tick, next_flush
            while next_tick <= to_ns:
                pipeline.tick(next_tick)
                if next_tick >= next_flush:
                    pipeline.flush(next_tick)
                    next_flush += flush_ns
                next_tick += tick_ns

        for i in range(requests):
            now = start + (i + 1) * per_request_ns
            advance(now)
            body = build_cardinality_request(rng, i % CARDINALITY_SERVICES, now)
            pipeline.process(decoder.spans_from_bytes(body.SerializeToString())[0])
        advance(now + _drain_ns(pipeline))
        gc.collect()
        trim()
        rss = process.memory_info().rss
        arenas = pymalloc_mb()
        retained, by_attribute = retained_by_attribute(pipeline) if not frames else ({}, {})
        snapshot = tracemalloc.take_snapshot() if frames else None
        tracemalloc.stop()
        held = _held(pipeline)
        pipeline.shutdown()
        saved = saved_state_bytes(Path(tmp) / "store.db")
    figures: dict[str, Any] = {
        "requests": requests,
        "rss_mb": {"idle": round(idle_rss / 1e6, 1), "cardinality": round(rss / 1e6, 1)},
    }
    if retained:
        figures["retained_mib_by_component"] = _mib(retained, 0)
        figures["retained_mib_by_attribute"] = _mib(by_attribute, ATTRIBUTE_MIN_BYTES)
    figures["pymalloc_mb"] = arenas
    if snapshot is not None and baseline is not None:
        figures.update(_traced(snapshot, baseline))
    figures["held"] = held
    figures["saved_state_bytes_by_component"] = saved
    return figures


def saved_state_bytes(path: Path) -> dict[str, int]:
    """The bytes of the state documents each component left in the store at shutdown."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT component, SUM(LENGTH(body)) FROM component_state"
            " GROUP BY component ORDER BY 2 DESC"
        ).fetchall()
    finally:
        db.close()
    return {str(component): int(size) for component, size in rows}


_SHARED = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.MethodType,
    types.BuiltinFunctionType,
    types.CodeType,
    types.FrameType,
)


def retained_bytes(pipeline: Any) -> dict[str, int]:
    """Bytes reachable from each component and from none before it (a deep ``getsizeof``).

    The walk stops at what components share (the pipeline, the other components, their
    contexts, the store, the series hub) and at code (types, modules, functions), so
    each object is counted once, with the first component that reaches it, in pipeline
    order: processors, then exporters.
    """
    return retained_by_attribute(pipeline)[0]


def retained_by_attribute(pipeline: Any) -> tuple[dict[str, int], dict[str, int]]:
    """:func:`retained_bytes`, and the same bytes split by the component's attributes
    (``"<component>.<attribute>"``, each counted with the first attribute that reaches
    it; what the component holds otherwise goes to ``"<component>.(rest)"``)."""
    components = {**pipeline.processors, **pipeline.exporters}
    stops = [pipeline, pipeline.store, pipeline.series, pipeline.telemetry, pipeline.config]
    stops += [c.context for c in components.values()] + list(components.values())
    seen = {id(o) for o in stops}
    out: dict[str, int] = {}
    by_attribute: dict[str, int] = {}
    for cid, component in components.items():
        total = 0
        for name, value in _attributes(component).items():
            size = by_attribute[f"{cid}.{name}"] = deep_size([value], seen)
            total += size
        rest = sys.getsizeof(component) + deep_size(gc.get_referents(component), seen)
        by_attribute[f"{cid}.(rest)"] = rest
        out[cid] = total + rest
    return out, by_attribute


def _attributes(obj: Any) -> dict[str, Any]:
    """An object's attributes: its ``__dict__``, else its slots that are set."""
    found = getattr(obj, "__dict__", None)
    if isinstance(found, dict):
        return dict(found)
    slots = (s for cls in type(obj).__mro__ for s in getattr(cls, "__slots__", ()))
    return {s: getattr(obj, s) for s in slots if hasattr(obj, s)}


def pymalloc_mb() -> dict[str, float]:
    """pymalloc's arenas now (``sys._debugmallocstats``), in MB: what they take, the
    objects alive in them, their free blocks and their unused pools."""
    from benchmarks._memory_probe import pymalloc

    found = pymalloc()
    return {
        "arenas": found.get("arenas_allocated_current", 0),
        "arena_mb": round(found.get("arena_bytes", 0) / 1e6, 1),
        "objects_mb": round(found.get("bytes_in_allocated_blocks", 0) / 1e6, 1),
        "free_blocks_mb": round(found.get("bytes_in_available_blocks", 0) / 1e6, 1),
        "unused_pools_mb": round(found.get("bytes_in_unused_pools", 0) / 1e6, 1),
    }


def _mib(sizes: dict[str, int], floor: int) -> dict[str, float]:
    ordered = sorted(sizes.items(), key=lambda item: -item[1])
    return {key: round(size / 2**20, 2) for key, size in ordered if size >= floor}


def deep_size(roots: list[Any], seen: set[int]) -> int:
    """``sys.getsizeof`` summed over everything reachable from ``roots`` and not in
    ``seen`` (which it fills), stopping at code (types, modules, functions)."""
    total, stack = 0, list(roots)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _SHARED):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def _drain_ns(pipeline: Any) -> int:
    """Event time after the last request by which every trace and interval is closed."""
    longest = 10 * S
    for processor in pipeline.processors.values():
        config = getattr(processor, "config", None)
        for name in ("trace_quiet_time", "interval", "late_grace"):
            value = getattr(config, name, None)
            if isinstance(value, int | float):
                longest = max(longest, int(value * S))
    return 3 * longest


def _held(pipeline: Any) -> dict[str, Any]:
    """What the processors say they hold (series, traces), from their snapshots."""
    out: dict[str, Any] = {}
    for pid, snapshot in pipeline.snapshot().items():
        for key in ("series", "traces_held", "objectives"):
            value = snapshot.get(key)
            if isinstance(value, int):
                out[f"{pid}.{key}"] = value
            elif isinstance(value, list):
                out[f"{pid}.{key}"] = len(value)
    return out


def _traced(snapshot: tracemalloc.Snapshot, baseline: tracemalloc.Snapshot) -> dict[str, Any]:
    by_part: Counter[str] = Counter()
    by_site: Counter[str] = Counter()
    for diff in snapshot.compare_to(baseline, "traceback"):
        if diff.size_diff <= 0:
            continue
        frames = [frame.filename for frame in reversed(diff.traceback)]  # innermost first
        by_part[part_of(frames)] += diff.size_diff
        top = diff.traceback[-1]
        by_site[f"{_short(top.filename)}:{top.lineno}"] += diff.size_diff
    traced = sum(by_part.values())
    mib = 2**20
    return {
        "traced_mib": round(traced / mib, 1),
        "traced_mib_by_part": {
            part: round(size / mib, 2) for part, size in by_part.most_common() if size >= mib / 100
        },
        "top_sites_mib": {
            site: round(size / mib, 2) for site, size in by_site.most_common(TOP_SITES)
        },
    }


def _short(filename: str) -> str:
    parts = PurePath(filename).parts
    for anchor in ("processors", "exporters", "otel_perf"):
        if anchor in parts:
            return "/".join(parts[parts.index(anchor) :])
    return "/".join(parts[-2:])


def report(figures: dict[str, Any]) -> None:
    """The breakdown for people (the caller prints the JSON line)."""
    rss = figures["rss_mb"]
    print(
        f"in process, {figures['requests']:,} cardinality requests: RSS {rss['idle']} MB "
        f"idle -> {rss['cardinality']} MB after"
    )
    arenas = figures["pymalloc_mb"]
    print(
        f"pymalloc: {arenas['arenas']} arenas ({arenas['arena_mb']} MB): objects "
        f"{arenas['objects_mb']} MB, free blocks {arenas['free_blocks_mb']} MB, unused pools "
        f"{arenas['unused_pools_mb']} MB"
    )
    for cid, size in figures.get("retained_mib_by_component", {}).items():
        print(f"  retained by {cid:<28} {size:>8.2f} MiB")
    if figures.get("retained_mib_by_attribute"):
        print("largest attributes (0.5 MiB or more):")
        for name, size in figures["retained_mib_by_attribute"].items():
            print(f"  {name:<40} {size:>8.2f} MiB")
    if "traced_mib" in figures:
        print(f"traced (a second run under tracemalloc): {figures['traced_mib']} MiB held, by part")
        for part, size in figures["traced_mib_by_part"].items():
            print(f"  {part:<32} {size:>8.2f} MiB")
        print("largest allocation sites:")
        for site, size in figures["top_sites_mib"].items():
            print(f"  {site:<56} {size:>8.2f} MiB")
    print("held: " + ", ".join(f"{k} {v:,}" for k, v in figures["held"].items()))
    saved = figures["saved_state_bytes_by_component"]
    print("saved state at shutdown: " + ", ".join(f"{k} {v:,} B" for k, v in saved.items()))
